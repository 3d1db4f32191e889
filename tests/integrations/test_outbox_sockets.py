"""The whole loop as an agent sees it: a reply typed on a socket is stored, delivered to the
platform by the server process right after the commit (no worker running), and the result comes
back on the same socket as ``message_updated``."""
import time

import pytest
from channels.db import database_sync_to_async

from conversations.models import Message
from integrations.delivery.inprocess import loop_delivery
from tests.sockets import connect, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def in_process(settings):
    settings.FIKO_DELIVERY_IN_PROCESS = True


async def test_reply_on_ws_chat_is_delivered_and_the_result_comes_back(platform, tg_conversation, staff, in_process):
    communicator, connected, _ = await connect(f"/ws/chat/{tg_conversation.pk}/", staff_token(staff))
    assert connected
    try:
        await receive_until(communicator, "recent_messages")
        started = time.monotonic()
        await communicator.send_json_to({"type": "chat_message", "content": "On its way!"})
        created = await receive_until(communicator, "chat_message")
        assert created["message"]["delivery_status"] == "pending" and created["external_send_result"] is None
        updated = await receive_until(communicator, "message_updated", timeout=5)
        assert time.monotonic() - started < 2
        platform_id = f"{tg_conversation.customer.external_id}:{platform.sent[0]['message_id']}"
        assert updated["message"]["id"] == created["message"]["id"]
        assert updated["message"]["delivery_status"] == "sent"
        assert updated["message"]["external_send_result"] == {
            "success": True, "platform": "telegram", "external_message_id": platform_id}
        assert [s["text"] for s in platform.sent] == ["On its way!"]
        assert loop_delivery.task is not None  # it ran on the server's event loop, not a side thread
    finally:
        await loop_delivery.stop()
        await communicator.disconnect()


async def test_blocked_bot_reaches_the_agent_as_failed(platform, tg_conversation, staff, in_process):
    platform.fail_next("blocked")
    communicator, connected, _ = await connect(f"/ws/chat/{tg_conversation.pk}/", staff_token(staff))
    assert connected
    try:
        await receive_until(communicator, "recent_messages")
        await communicator.send_json_to({"type": "chat_message", "content": "Hello?"})
        updated = await receive_until(communicator, "message_updated", timeout=5)
        assert updated["message"]["delivery_status"] == "failed"
        assert updated["message"]["external_send_result"] == {
            "success": False, "platform": "telegram", "error": "Forbidden: bot was blocked by the user"}
    finally:
        await loop_delivery.stop()
        await communicator.disconnect()
    failed = database_sync_to_async(lambda: Message.objects.filter(delivery_status="failed").count())
    assert await failed() == 1
