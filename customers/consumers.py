"""/ws/customers/: the customer list (seeds 000, 001).

In: ``get_customers {filters?}``, ``filter_customers {filters}``, ``search_customers
{search_term}`` (legacy), ``refresh_customers``, ``get_filter_options``.
Out: ``customers_list``, ``filter_options``; pushed ``customer_created`` / ``customer_updated``.
"""
from fiko.db import database_sync_to_async

from fiko.errors import InvalidInput
from fiko.consumers import encoded_once
from fiko.list_consumers import WorkspaceListConsumer
from fiko.timefmt import now_iso

from .selectors import customer_filter_options, customer_page
from .serializers import CustomerSerializer


def customers_list_frame(*, user, filters: dict, workspace_ids=None) -> dict:
    """One page of the user's customers (of ``workspace_ids`` if the caller holds them), in a
    constant number of queries; ``count`` is capped as SPEC says (``pagination.count_capped``)."""
    result, page = customer_page(user=user, filters=filters, workspace_ids=workspace_ids)
    return {
        "type": "customers_list",
        "customers": CustomerSerializer(result.rows, many=True).data,
        "count": result.total,
        "filters": filters,
        "pagination": page.describe(result),
        "timestamp": now_iso(),
    }


class CustomerListConsumer(WorkspaceListConsumer):
    def build_list_frame(self, filters):
        return customers_list_frame(user=self.user, filters=filters, workspace_ids=self.workspace_ids)

    async def on_get_customers(self, frame):
        await self.send_list(frame.get("filters"))

    async def on_filter_customers(self, frame):
        await self.send_list(frame.get("filters"))

    async def on_search_customers(self, frame):
        term = frame.get("search_term", "")
        if term is None:
            term = ""
        if not isinstance(term, str):
            raise InvalidInput("search_term must be a string", field="search_term")
        await self.send_list({"search": term} if term.strip() else {})

    async def on_refresh_customers(self, frame):
        await self.send_list_again()

    async def on_get_filter_options(self, frame):
        options = await database_sync_to_async(customer_filter_options)(user=self.user)
        await self.send_json({"type": "filter_options", "options": options, "timestamp": now_iso()})

    # --- events ----------------------------------------------------------------------------
    async def customer_created(self, event):
        await self.send_text(encoded_once(event, "list.customer_created", lambda: {
            "type": "customer_created", "customer": event["customer"], "timestamp": now_iso()}))

    async def customer_updated(self, event):
        await self.send_text(encoded_once(event, "list.customer_updated", lambda: {
            "type": "customer_updated", "customer": event["customer"], "timestamp": now_iso()}))
