"""WorkspaceListConsumer: what /ws/customers/ and /ws/conversations/ share.

The socket joins the groups of the user's workspaces (so it only ever hears its own
workspaces' events), remembers the last filters that ran without error (``refresh_*``
re-runs them) and builds each list frame in one synchronous function (selector + serializer,
a constant number of queries) run through ``database_sync_to_async``.

Every domain event that can reach a workspace group has a handler here that does nothing;
subclasses override the ones their dialect renders. Channels raises "No handler for message
type" for an event without a method, which would kill the socket.
"""
from fiko.db import database_sync_to_async

from fiko import realtime
from fiko.consumers import BaseConsumer
from fiko.errors import ErrorCode, InvalidInput
from workspaces.selectors import workspace_ids_for_user


def check_filters(filters) -> dict:
    """``filters`` of a frame: absent/null means none; anything but an object is an error."""
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise InvalidInput("Invalid filters: must be an object", ErrorCode.INVALID_FILTER, field="filters")
    return dict(filters)


class WorkspaceListConsumer(BaseConsumer):
    async def connect(self):
        self.workspace_ids = await database_sync_to_async(workspace_ids_for_user)(self.user)
        for workspace_id in self.workspace_ids:
            await self.join_group(realtime.workspace_group(workspace_id))
        self.filters: dict = {}
        await self.accept()

    def uses_workspace(self, workspace_id: int) -> bool:
        return workspace_id in getattr(self, "workspace_ids", (workspace_id,))

    def build_list_frame(self, filters: dict) -> dict:
        """Synchronous: the list frame for ``filters`` (runs in a worker thread)."""
        raise NotImplementedError

    async def send_list(self, filters) -> None:
        filters = check_filters(filters)
        frame = await database_sync_to_async(self.build_list_frame)(filters)
        self.filters = filters  # only filters that ran without error are remembered
        await self.send_json(frame)

    async def send_list_again(self) -> None:
        await self.send_list(self.filters)
