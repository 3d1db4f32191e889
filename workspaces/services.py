"""Writes of workspaces and memberships."""
import re

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from fiko.errors import InvalidInput

from .models import Membership, Workspace

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = Workspace._meta.get_field("slug").max_length


def workspace_check_slug(slug: str) -> str:
    """A slug is lowercase letters, digits and single hyphens (``acme``, ``acme-shop``)."""
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug) or len(slug) > SLUG_MAX:
        raise InvalidInput(
            f"Invalid workspace slug {slug!r}: use lowercase letters, digits and single hyphens "
            f"(at most {SLUG_MAX} characters), e.g. 'acme-shop'",
            field="slug",
        )
    return slug


def staff_user_ensure(*, username: str, password: str | None = None, **defaults):
    """The staff user ``username``, created if missing. A given password is (re)set;
    a new user needs one. Returns (user, created)."""
    username = (username or "").strip()
    if not username:
        raise InvalidInput("Username cannot be empty", field="username")
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        if not password:
            raise InvalidInput(f"User {username!r} does not exist: a password is needed to create it", field="password")
        return User.objects.create_user(username=username, password=password, **defaults), True
    if password and not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return user, False


def membership_ensure(*, workspace: Workspace, user, role: str) -> Membership:
    """Make ``user`` a member with ``role`` (an existing membership's role is updated)."""
    membership, created = Membership.objects.get_or_create(workspace=workspace, user=user, defaults={"role": role})
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def workspace_create(*, slug: str, owner, name: str = "") -> Workspace:
    """A new workspace with ``owner`` as its owner. An existing slug is an error."""
    workspace_check_slug(slug)
    existing = Workspace.objects.filter(slug=slug).first()
    if existing is not None:
        raise InvalidInput(f"A workspace with slug {slug!r} already exists (id {existing.pk})", field="slug")
    try:
        with transaction.atomic():
            workspace = Workspace.objects.create(slug=slug, name=(name or "").strip() or slug.replace("-", " ").title())
    except IntegrityError:  # created concurrently since the check above
        raise InvalidInput(f"A workspace with slug {slug!r} already exists", field="slug") from None
    membership_ensure(workspace=workspace, user=owner, role=Membership.Role.OWNER)
    return workspace
