"""A socket's log lines name that socket, even when what it logs was started by an event the
fan-out delivered (the fan-out's reader task belongs to the process, not to the socket that
happened to join first)."""
import logging

import pytest
from asgiref.sync import sync_to_async

from conversations.services import message_send
from fiko import log_context
from tests.sockets import connect, receive_closed_code, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)


class ContextCapture(logging.Handler):
    """Each record's message with the log context it was written in (what the JSON lines show)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, dict]] = []

    def emit(self, record):
        self.lines.append((record.getMessage(), log_context.current(record)))


async def test_each_slow_socket_logs_its_close_under_its_own_socket_id(settings, staff, bob, conversation):
    capture = ContextCapture()
    logger = logging.getLogger("fiko.consumers")
    logger.addHandler(capture)
    level, logger.level = logger.level, logging.INFO
    try:
        sockets = []
        for user in (staff, bob):
            communicator, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(user))
            assert connected
            await receive_until(communicator, "recent_messages")
            sockets.append(communicator)
        await receive_until(sockets[0], "user_presence")  # bob's arrival, seen by alice
        settings.SOCKET_OUTBOX_MAX_FRAMES = 0  # now the first event queued for a socket crosses the bound
        await sync_to_async(message_send)(conversation=conversation, user=staff, content="over the bound")
        for communicator in sockets:
            frames, code = await receive_closed_code(communicator, timeout=5)
            assert code == 1013
            assert [f["code"] for f in frames if f.get("type") == "error"] == ["slow_consumer"]
    finally:
        logger.removeHandler(capture)
        logger.level = level

    closes = [fields for message, fields in capture.lines if message.startswith("closing the socket with 1013")]
    assert len(closes) == 2, capture.lines
    ids = [fields.get("socket_id") for fields in closes]
    assert all(isinstance(i, str) and i.startswith("socket.") for i in ids), closes
    assert ids[0] != ids[1], f"both sockets' closes were logged as {ids[0]}"
