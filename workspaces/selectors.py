from fiko.inputs import id_or_none

from .models import Membership, Workspace


def workspace_ids_for_user(user) -> list[int]:
    """Workspaces a staff user belongs to (the root of every tenancy check)."""
    if user is None or not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).values_list("workspace_id", flat=True))


def workspace_is_owner(*, user, workspace_id: int) -> bool:
    return Membership.objects.filter(
        user=user, workspace_id=workspace_id, role=Membership.Role.OWNER
    ).exists()


def workspace_get_by_ref(ref) -> Workspace | None:
    """A workspace by id or slug (the customer sign-up form accepts either)."""
    if ref is None or ref == "":
        return None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit()):
        pk = id_or_none(ref)
        return Workspace.objects.filter(pk=pk).first() if pk is not None else None
    return Workspace.objects.filter(slug=str(ref)).first()
