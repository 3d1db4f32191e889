"""/api/v1/chat/ws/chat/user and /customer: the multiplexed chat socket (seed 004)."""
from fiko.consumers import BaseConsumer
from fiko.tokens import CUSTOMER, STAFF


class _ChatSocketConsumer(BaseConsumer):
    async def connect(self):
        await self.accept()
        kind = "user" if self.user else "customer"
        await self.send_json({"type": "connected", "participant_type": kind,
                              "participant_id": (self.user or self.customer).pk})


class StaffChatSocketConsumer(_ChatSocketConsumer):
    principal_kind = STAFF


class CustomerChatSocketConsumer(_ChatSocketConsumer):
    principal_kind = CUSTOMER
