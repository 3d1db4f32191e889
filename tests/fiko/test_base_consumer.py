import pytest

from tests.sockets import connect, receive_closed_code, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

ROUTES = ["/ws/customers/", "/ws/conversations/"]


@pytest.mark.parametrize("path", ROUTES)
async def test_ping_answers_pong(staff, path):
    comm, connected, _ = await connect(path, staff_token(staff))
    assert connected
    await comm.send_json_to({"type": "ping"})
    frame = await comm.receive_json_from()
    assert frame["type"] == "pong" and frame["timestamp"].endswith("Z")
    await comm.disconnect()


@pytest.mark.parametrize("path", ROUTES)
async def test_no_token_is_closed_with_1008(db, path):
    comm, connected, _ = await connect(path)
    assert connected  # accepted, then closed: browsers only see codes of accepted sockets
    frames, code = await receive_closed_code(comm)
    assert code == 1008
    assert frames[0]["type"] == "error"


async def test_chat_socket_ping_and_missing_conversation(staff, conversation):
    comm, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(staff))
    assert connected
    await receive_until(comm, "recent_messages")
    await comm.send_json_to({"type": "ping"})
    assert (await receive_until(comm, "pong"))["timestamp"].endswith("Z")
    await comm.disconnect()
    comm, connected, _ = await connect("/ws/chat/999999/", staff_token(staff))
    frames, code = await receive_closed_code(comm)
    assert code == 4404


async def test_bad_frames_get_error_frames_and_socket_stays_open(staff):
    comm, _, _ = await connect("/ws/customers/", staff_token(staff))
    await comm.send_to(text_data="{not json")
    frame = await comm.receive_json_from()
    assert frame == {"type": "error", "error": "Invalid JSON format", "message": "Invalid JSON format",
                     "code": "invalid_json", "reason": "unexpected character"}
    await comm.send_json_to({"type": "launch_rockets"})
    frame = await comm.receive_json_from()
    assert frame["code"] == "unknown_type"
    await comm.send_to(text_data='{"type":"ping","pad":"' + "x" * 70000 + '"}')
    assert (await comm.receive_json_from())["code"] == "too_long"
    await comm.send_json_to({"type": "ping"})
    assert (await comm.receive_json_from())["type"] == "pong"
    await comm.disconnect()
