import pytest

from tests.sockets import connect, drain, receive_closed_code, receive_until, staff_token

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


async def test_an_idle_socket_keeps_one_task_and_no_outbox(staff, conversation):
    """What each idle socket holds (bench W3, memory per socket): its consumer's own task, which
    reads the socket's messages itself (Channels' dispatch loop kept a second task per socket,
    one per receive), and no outbox until a frame has to be queued."""
    import asyncio

    from fiko import fanout, realtime

    def running_tasks() -> int:
        return sum(1 for task in asyncio.all_tasks() if not task.done())

    sockets = []

    async def open_idle_socket():
        comm, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(staff))
        assert connected
        await receive_until(comm, "recent_messages")
        await drain(comm)
        sockets.append(comm)

    group = realtime.conversation_group(conversation.pk)
    await open_idle_socket()  # the process's own tasks (fan-out reader, presence heartbeat) start here
    first, before = set(fanout.hub().members[group]), running_tasks()
    for _ in range(3):
        await open_idle_socket()  # the same user: nobody new is online, so no frame is queued for anyone
    assert running_tasks() - before == 3
    later = fanout.hub().members[group] - first
    assert len(later) == 3 and all(member._outbox is None for member in later)
    for comm in sockets:
        await comm.disconnect()
