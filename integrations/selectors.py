"""Reads of channels, with the owner-only rule folded in: another workspace's channel is
missing (404); a channel of a workspace where the user is only an agent is forbidden (403)."""
from fiko.errors import Forbidden, NotFound
from fiko.inputs import id_or_none
from workspaces.models import Membership

from .models import Channel

OWNERS_ONLY = "Only workspace owners can manage channels."


def owned_workspace_ids(user) -> list[int]:
    return list(Membership.objects.filter(user=user, role=Membership.Role.OWNER).values_list("workspace_id", flat=True))


def channel_list_for_owner(*, user):
    """Channels of every workspace the user owns. Raises Forbidden for users who own none."""
    owned = owned_workspace_ids(user)
    if not owned:
        raise Forbidden(OWNERS_ONLY)
    return Channel.objects.filter(workspace_id__in=owned).order_by("id")


def channel_get_for_owner(*, user, channel_id) -> Channel:
    channel_id = id_or_none(channel_id)
    if channel_id is None:
        raise NotFound("Channel not found")
    channel = Channel.objects.filter(pk=channel_id, workspace__memberships__user=user).first()
    if channel is None:
        raise NotFound("Channel not found")
    if not Membership.objects.filter(user=user, workspace_id=channel.workspace_id, role=Membership.Role.OWNER).exists():
        raise Forbidden(OWNERS_ONLY)
    return channel


def workspace_for_new_channel(*, user, workspace_id=None) -> int:
    """The workspace a new channel goes to: the given one (must be owned), or the only one the
    user owns."""
    memberships = dict(Membership.objects.filter(user=user).values_list("workspace_id", "role"))
    if workspace_id is not None:
        if workspace_id not in memberships:
            raise NotFound("Workspace not found")
        if memberships[workspace_id] != Membership.Role.OWNER:
            raise Forbidden(OWNERS_ONLY)
        return workspace_id
    owned = [ws for ws, role in memberships.items() if role == Membership.Role.OWNER]
    if not owned:
        raise Forbidden(OWNERS_ONLY)
    if len(owned) > 1:
        from fiko.errors import InvalidInput

        raise InvalidInput("You own several workspaces: say which one with 'workspace'.", field="workspace")
    return owned[0]
