"""/ws/customers/: the customer list (seeds 000, 001).

In: ``get_customers {filters?}``, ``filter_customers {filters}``, ``search_customers
{search_term}`` (legacy), ``refresh_customers``, ``get_filter_options``.
Out: ``customers_list``, ``filter_options``; pushed ``customer_created`` / ``customer_updated``.
"""
from fiko.errors import InvalidInput
from fiko.consumers import encoded_once
from fiko.list_consumers import WorkspaceList, WorkspaceListConsumer
from fiko.timefmt import now_iso

from .selectors import customer_filter_options, customer_page
from .serializers import CustomerSerializer


class CustomerListConsumer(WorkspaceListConsumer):
    listing = WorkspaceList("customers", customer_page, CustomerSerializer, customer_filter_options)
    on_get_customers = on_filter_customers = WorkspaceListConsumer.answer_list
    on_refresh_customers = WorkspaceListConsumer.answer_refresh
    on_get_filter_options = WorkspaceListConsumer.answer_filter_options

    async def on_search_customers(self, frame):
        term = frame.get("search_term", "")
        if term is None:
            term = ""
        if not isinstance(term, str):
            raise InvalidInput("search_term must be a string", field="search_term")
        await self.send_list({"search": term} if term.strip() else {})

    # --- events ----------------------------------------------------------------------------
    async def customer_created(self, event):
        await self.send_text(encoded_once(event, "list.customer_created", lambda: {
            "type": "customer_created", "customer": event["customer"], "timestamp": now_iso()}))

    async def customer_updated(self, event):
        await self.send_text(encoded_once(event, "list.customer_updated", lambda: {
            "type": "customer_updated", "customer": event["customer"], "timestamp": now_iso()}))


customers_list_frame = CustomerListConsumer.listing.frame  # a page as the socket sends it, without a socket
