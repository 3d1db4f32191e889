"""Hostile frames on every socket (issue 8, items 2-4 and 8): each gets an ``error`` frame with
the right code (never ``server_error``), nothing is stored, and the socket still answers
``ping`` afterwards. Frames are written as raw text, since JSON libraries refuse to produce
deep nesting or lone surrogates."""
import pytest
from channels.db import database_sync_to_async

from conversations.models import Message
from tests.sockets import connect, customer_token, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = "[" * 1000 + "]" * 1000
RAW_FRAMES = [
    (DEEP, "invalid_json"),
    ('{"type": "ping", "x": ' + "[" * 40 + "]" * 40 + "}", "invalid_json"),
    ('{"type": "\\ud800"}', "invalid_json"),
    ('{"type": "ping", "\\udfff": 1}', "invalid_json"),
    ('{"type": "ping\\u0000"}', "invalid_json"),
    ('{"type": 1e999}', "invalid_json"),
    ("NaN", "invalid_json"),
]


def socket_paths(conversation):
    return [
        ("/ws/customers/", "staff"), ("/ws/conversations/", "staff"), (f"/ws/chat/{conversation.pk}/", "staff"),
        ("/api/v1/chat/ws/chat/user", "staff"), ("/api/v1/chat/ws/chat/customer", "customer"),
    ]


async def open_socket(path, token):
    comm, connected, _ = await connect(path, token)
    assert connected
    if path.startswith("/ws/chat/"):
        assert (await comm.receive_json_from(timeout=5))["type"] == "recent_messages"
    elif path.startswith("/api/v1/chat/ws/"):
        assert (await comm.receive_json_from(timeout=5))["type"] == "connected"
    return comm


async def still_answers_ping(comm):
    await comm.send_json_to({"type": "ping"})
    while True:
        frame = await comm.receive_json_from(timeout=5)
        if frame["type"] == "pong":
            return True


@database_sync_to_async
def message_count():
    return Message.objects.count()


async def test_hostile_raw_frames_get_invalid_json_on_every_socket(staff, customer, conversation):
    for path, who in socket_paths(conversation):
        comm = await open_socket(path, staff_token(staff) if who == "staff" else customer_token(customer))
        for text, code in RAW_FRAMES:
            await comm.send_to(text_data=text)
            frame = await comm.receive_json_from(timeout=5)
            assert (frame["type"], frame["code"]) == ("error", code), (path, text[:40], frame)
            assert frame["error"] == frame["message"] == "Invalid JSON format"
        assert await still_answers_ping(comm)
        await comm.disconnect()


@pytest.mark.parametrize("bad_id", ["²", "١", "１", "+1", " 1", "1_0", "1.0", 9223372036854775808, -1, True, [1]])
async def test_ids_in_frames_are_ascii_digits_in_range(staff, customer, conversation, bad_id):
    comm = await open_socket(f"/ws/chat/{conversation.pk}/", staff_token(staff))
    for frame in ({"type": "get_messages", "before_id": bad_id}, {"type": "get_messages", "after_id": bad_id},
                  {"type": "chat_message", "content": "hi", "reply_to_message_id": bad_id}):
        await comm.send_json_to(frame)
        answer = await comm.receive_json_from(timeout=5)
        assert (answer["type"], answer["code"]) == ("error", "invalid_input"), (frame, answer)
    assert await still_answers_ping(comm)
    await comm.disconnect()

    comm = await open_socket("/api/v1/chat/ws/chat/user", staff_token(staff))
    for frame in ({"type": "join_chat", "chat_id": bad_id}, {"type": "send_message", "chat_id": bad_id, "content": "x"},
                  {"type": "read_message", "chat_id": bad_id, "message_id": 1}):
        await comm.send_json_to(frame)
        answer = await comm.receive_json_from(timeout=5)
        assert (answer["type"], answer["code"]) == ("error", "invalid_input"), (frame, answer)
    await comm.send_json_to({"type": "join_chat", "chat_id": conversation.pk})
    while (await comm.receive_json_from(timeout=5))["type"] != "joined":
        pass
    await comm.send_json_to({"type": "read_message", "chat_id": conversation.pk, "message_id": bad_id})
    answer = await comm.receive_json_from(timeout=5)
    assert (answer["type"], answer["code"]) == ("error", "invalid_input"), answer
    assert await still_answers_ping(comm)
    await comm.disconnect()
    assert await message_count() == 0


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
                                 "/uploads/../admin/", "//evil.example/x.png"])
async def test_media_url_rule_is_the_same_on_every_socket(staff, customer, conversation, url):
    comm = await open_socket(f"/ws/chat/{conversation.pk}/", staff_token(staff))
    await comm.send_json_to({"type": "chat_message", "content": "x", "message_type": "file", "media_url": url})
    answer = await comm.receive_json_from(timeout=5)
    assert (answer["type"], answer["code"]) == ("error", "invalid_input")
    assert "media_url" in answer["error"]
    await comm.disconnect()
    for path, token in (("/api/v1/chat/ws/chat/user", staff_token(staff)),
                        ("/api/v1/chat/ws/chat/customer", customer_token(customer))):
        comm = await open_socket(path, token)
        await comm.send_json_to({"type": "join_chat", "chat_id": conversation.pk})
        while (await comm.receive_json_from(timeout=5))["type"] != "joined":
            pass
        await comm.send_json_to({"type": "send_message", "chat_id": conversation.pk, "content": "x",
                                 "message_type": "file", "media_url": url})
        answer = await comm.receive_json_from(timeout=5)
        assert (answer["type"], answer["code"]) == ("error", "invalid_input"), answer
        await comm.disconnect()
    assert await message_count() == 0


async def test_customers_may_not_link_outside_files_but_staff_may(staff, customer, conversation):
    comm = await open_socket("/api/v1/chat/ws/chat/customer", customer_token(customer))
    await comm.send_json_to({"type": "join_chat", "chat_id": conversation.pk})
    while (await comm.receive_json_from(timeout=5))["type"] != "joined":
        pass
    await comm.send_json_to({"type": "send_message", "chat_id": conversation.pk, "message_type": "image",
                             "media_url": "https://tracker.example/pixel.png"})
    answer = await comm.receive_json_from(timeout=5)
    assert (answer["type"], answer["code"]) == ("error", "invalid_input")
    await comm.disconnect()
    comm = await open_socket(f"/ws/chat/{conversation.pk}/", staff_token(staff))
    await comm.send_json_to({"type": "chat_message", "content": "our product", "message_type": "image",
                             "media_url": "https://shop.example/p/1.png"})
    frame = await comm.receive_json_from(timeout=5)
    assert frame["type"] == "chat_message"
    assert frame["message"]["media_url"] == "https://shop.example/p/1.png"
    await comm.disconnect()
    assert await message_count() == 1


@pytest.mark.parametrize("filters,field", [
    ({"offset": 9223372036854775808}, "offset"), ({"page": "9223372036854775807"}, "page"), ({"limit": "١"}, "limit"),
    ({"date_to": "9999-12-31T23:59:59-23:59"}, "date_to"), ({"date_from": "2024-13-45"}, "date_from"),
    ({"tag_ids": ["²"]}, "tag_ids"),
])
async def test_list_socket_filters_out_of_range_are_invalid_filter(staff, filters, field):
    comm = await open_socket("/ws/customers/", staff_token(staff))
    await comm.send_json_to({"type": "filter_customers", "filters": filters})
    answer = await comm.receive_json_from(timeout=5)
    assert (answer["type"], answer["code"], answer["field"]) == ("error", "invalid_filter", field), answer
    assert await still_answers_ping(comm)
    await comm.disconnect()


@pytest.mark.parametrize("filters,field", [
    ({"priority": "²"}, "priority"), ({"assignee": "١"}, "assignee"), ({"assignee": 9223372036854775808}, "assignee"),
    ({"tags": ["a\u0000"]}, None),
])
async def test_conversation_socket_filters(staff, filters, field):
    comm = await open_socket("/ws/conversations/", staff_token(staff))
    await comm.send_json_to({"type": "filter_conversations", "filters": filters})
    answer = await comm.receive_json_from(timeout=5)
    assert answer["type"] == "error" and answer["code"] in ("invalid_filter", "invalid_json"), answer
    if field:
        assert answer["field"] == field
    assert await still_answers_ping(comm)
    await comm.disconnect()


@pytest.mark.parametrize("path", ["/ws/chat//", "/ws/nothing/", "/ws/chat/1/extra/"])
async def test_a_socket_path_no_route_serves_is_accepted_then_closed_4404(staff, path):
    from tests.sockets import receive_closed_code

    comm, connected, _ = await connect(path, staff_token(staff))
    assert connected
    frames, code = await receive_closed_code(comm)
    assert code == 4404
    assert frames[0]["code"] == "not_found"
