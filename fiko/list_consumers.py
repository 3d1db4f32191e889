"""WorkspaceListConsumer: the one consumer behind /ws/customers/ and /ws/conversations/.

A list socket joins the groups of the user's workspaces (so it only ever hears its own
workspaces' events) and answers three kinds of frames for its ``WorkspaceList``: the list for
the frame's ``filters``, the list again for the last filters that ran without error
(``refresh_*``), and the filter options. Each answer is built in one synchronous call (selector
+ serializer, a constant number of queries) run through ``database_sync_to_async``.

A subclass declares its list (``listing = WorkspaceList("customers", customer_page, ...)``),
binds its dialect's frame types to the answers (``on_get_customers =
WorkspaceListConsumer.answer_list``) and renders the events its dialect shows
(``customer_updated``…); an event without a handler is dropped by BaseConsumer.
"""
from dataclasses import dataclass
from typing import Callable

from fiko import realtime
from fiko.consumers import BaseConsumer
from fiko.db import database_sync_to_async
from fiko.errors import ErrorCode, InvalidInput
from fiko.timefmt import now_iso
from workspaces.selectors import workspace_ids_for_user


def check_filters(filters) -> dict:
    """``filters`` of a frame: absent/null means none; anything but an object is an error."""
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise InvalidInput("Invalid filters: must be an object", ErrorCode.INVALID_FILTER, field="filters")
    return dict(filters)


@dataclass(frozen=True)
class WorkspaceList:
    """One list a socket serves: its ``name`` on the wire (the ``<name>_list`` frame carries the
    page's rows under ``<name>``), its selectors and the serializer of its rows."""

    name: str
    page: Callable  # (*, user, filters, workspace_ids) -> (Page, PageRequest)
    serializer: type
    filter_options: Callable  # (*, user) -> dict

    def frame(self, *, user, filters: dict, workspace_ids=None) -> dict:
        """One page of the user's rows (of ``workspace_ids`` if the caller holds them), in a
        constant number of queries; ``count`` is capped as SPEC says (``pagination.count_capped``)."""
        result, page = self.page(user=user, filters=filters, workspace_ids=workspace_ids)
        return {
            "type": f"{self.name}_list",
            self.name: self.serializer(result.rows, many=True).data,
            "count": result.total,
            "filters": filters,
            "pagination": page.describe(result),
            "timestamp": now_iso(),
        }


class WorkspaceListConsumer(BaseConsumer):
    listing: WorkspaceList

    async def connect(self):
        self.workspace_ids = await database_sync_to_async(workspace_ids_for_user)(self.user)
        for workspace_id in self.workspace_ids:
            await self.join_group(realtime.workspace_group(workspace_id))
        self.filters: dict = {}
        await self.accept()

    def uses_workspace(self, workspace_id: int) -> bool:
        return workspace_id in getattr(self, "workspace_ids", (workspace_id,))

    async def send_list(self, filters) -> None:
        filters = check_filters(filters)
        frame = await database_sync_to_async(self.listing.frame)(
            user=self.user, filters=filters, workspace_ids=self.workspace_ids)
        self.filters = filters  # only filters that ran without error are remembered
        await self.send_json(frame)

    # --- answers, bound to frame types by each subclass -------------------------------------
    async def answer_list(self, frame):
        await self.send_list(frame.get("filters"))

    async def answer_refresh(self, frame):
        await self.send_list(self.filters)

    async def answer_filter_options(self, frame):
        options = await database_sync_to_async(self.listing.filter_options)(user=self.user)
        await self.send_json({"type": "filter_options", "options": options, "timestamp": now_iso()})
