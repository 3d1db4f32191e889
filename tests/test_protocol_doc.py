"""docs/protocol.md cannot drift from the server: every example frame in it (the ```json blocks,
and the one-line frames in inline code) is compared with the frame the server really sends on
that socket, captured here from real sockets through the real ASGI application; the example
objects (Conversation, Message) with the real wire objects; the files it names must exist.

Compared: the keys of every object, level by level; the JSON type of every value; the lists of
the filter options (``options``) exactly. Placeholders the doc uses are understood:
``{ /* Message */ }`` or ``{...}`` is "an object", ``[ /* ... */ ]`` "a list", and a key
``"..."`` means "and more keys".
"""
import json
import re
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from markdown_it import MarkdownIt

from conversations.models import Message
from conversations.services import (
    conversation_create, conversation_mark_read, conversation_update, message_publish_updated, message_receive, message_send,
)
from customers.models import Tag
from customers.services import customer_upsert_from_platform
from tests.factories import make_customer, make_user
from tests.sockets import connect, receive_until, staff_token

PROTOCOL_MD = Path(settings.BASE_DIR) / "docs" / "protocol.md"
MORE_KEYS = "..."

# The H2 section of the doc -> the socket whose frames its examples show ("any": every socket).
SECTIONS = {
    "/ws/customers/": "customers",
    "/ws/conversations/": "conversations",
    "/ws/chat/<conversation_id>/": "chat",
    "Multiplexed chat socket: /api/v1/chat/ws/chat/user | customer": "multiplex",
    "Authentication": "any",
    "What every socket shares": "any",
    "Errors": "any",
    "REST endpoints": "rest",
}
OBJECT_SECTIONS = {"Conversation (= \"chat\" on the multiplexed socket)": "conversation",
                   "Message (one shape for every socket and the REST API)": "message"}


# --- the doc's examples ------------------------------------------------------------------------
def _placeholders_out(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return text.replace("{...}", "{}").replace("[...]", "[]")


def doc_examples(path: Path = PROTOCOL_MD) -> tuple[list[dict], list[str]]:
    """Every example: {"h2", "h3", "line", "json", "block", "inbound"}; and the ```json blocks
    that do not parse (each one a problem: an example nobody can check). ``inbound``: under a
    paragraph "**In**" (frames a client sends), until the next "**Out**" or heading."""
    tokens = MarkdownIt("commonmark").enable("table").parse(path.read_text(encoding="utf-8"))
    examples, unreadable = [], []
    h2 = h3 = ""
    inbound = False
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            inbound = False
            text = tokens[index + 1].content.replace("`", "")
            if token.tag == "h2":
                h2, h3 = text, ""
            elif token.tag == "h3":
                h3 = text
        elif token.type == "fence" and token.info.strip() == "json":
            line = token.map[0] + 1
            try:
                value = json.loads(_placeholders_out(token.content))
            except ValueError as error:
                unreadable.append(f"docs/protocol.md:{line}: a ```json block that is not JSON ({error})")
                continue
            examples.append({"h2": h2, "h3": h3, "line": line, "json": value, "block": True, "inbound": inbound})
        elif token.type == "inline" and token.content.strip() in ("**In**", "**Out**"):
            inbound = token.content.strip() == "**In**"
        elif token.type == "inline":
            for child in token.children or []:
                if child.type == "code_inline" and child.content.startswith('{"type"'):
                    try:
                        value = json.loads(_placeholders_out(child.content))
                    except ValueError:
                        continue  # a field list such as {"type", "user_id", ...}: not an example
                    examples.append({"h2": h2, "h3": h3, "line": (token.map or [0])[0] + 1, "json": value,
                                     "block": False, "inbound": inbound})
    return examples, unreadable


def _kind(value) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}[type(value)]


def shape_problems(doc, real, where: str, exact_lists: bool = False) -> list[str]:
    """How ``real`` (what the server sent) differs in shape from ``doc`` (the example)."""
    if _kind(doc) != _kind(real):
        return [f"{where}: the doc shows {_kind(doc)} {json.dumps(doc)[:60]}, the server sends {_kind(real)} "
                f"{json.dumps(real)[:60]}"]
    if isinstance(doc, dict):
        if not doc:
            return []  # "an object"
        problems = []
        open_ended = MORE_KEYS in doc
        doc_keys, real_keys = set(doc) - {MORE_KEYS}, set(real)
        if doc_keys - real_keys:
            problems.append(f"{where}: the doc shows keys the server does not send: {sorted(doc_keys - real_keys)}")
        if not open_ended and real_keys - doc_keys:
            problems.append(f"{where}: the server sends keys the doc does not show: {sorted(real_keys - doc_keys)}")
        for key in sorted(doc_keys & real_keys):
            problems += shape_problems(doc[key], real[key], f"{where}.{key}", exact_lists or key == "options")
        return problems
    if isinstance(doc, list):
        if not doc:
            return []  # "a list"
        if any(isinstance(item, (dict, list)) for item in doc):
            if not real:
                return [f"{where}: the server sent an empty list; the capture must fill it"]
            return shape_problems(doc[0], real[0], f"{where}[0]")
        if exact_lists and doc != real:
            return [f"{where}: the doc lists {doc}, the server sends {real}"]
        if not real:
            return [f"{where}: the server sent an empty list; the capture must fill it"]
        if _kind(doc[0]) != _kind(real[0]):
            return [f"{where}: the doc lists {doc}, the server sends {real}"]
    return []


def check(example: dict, real) -> list[str]:
    where = f"docs/protocol.md:{example['line']} ({example['h2']}{' / ' + example['h3'] if example['h3'] else ''}"
    where += f", {example['json'].get('type', 'object')})" if isinstance(example["json"], dict) else ")"
    return shape_problems(example["json"], json.loads(json.dumps(real)), where)


# --- what the server sends ---------------------------------------------------------------------
@pytest.fixture
def scene(workspace, staff, customer, conversation):
    """A workspace with a tagged Telegram customer and conversation, and a web-chat customer."""
    tag = Tag.objects.create(workspace=workspace, name="VIP", color="#f59e0b")
    customer.tags.add(tag)
    web = make_customer(workspace, source="web", first_name="Sara", email="sara@example.com")
    with transaction.atomic():
        web_conversation = conversation_create(workspace=workspace, customer=web, source="web")
    message_receive(conversation=conversation, customer=customer, content="Hello")
    return {"staff": staff, "customer": customer, "conversation": conversation, "web": web,
            "web_conversation": web_conversation, "bob": make_user("bob", workspace=workspace)}


async def send(comm, frame: dict, reply: str) -> dict:
    await comm.send_json_to(frame)
    return await receive_until(comm, reply, timeout=5)


async def capture(scene) -> dict[tuple[str, str], dict]:
    """(socket, frame type) -> a frame the server sent, for every frame the doc shows."""
    frames: dict[tuple[str, str], dict] = {}
    staff, conversation = scene["staff"], scene["conversation"]
    token = staff_token(staff)

    customers, *_ = await connect("/ws/customers/", token)
    frames["customers", "customers_list"] = await send(customers, {
        "type": "get_customers", "filters": {"source": "telegram", "order_by": "-last_activity_at"}}, "customers_list")
    frames["customers", "filter_options"] = await send(customers, {"type": "get_filter_options"}, "filter_options")

    conversations, *_ = await connect("/ws/conversations/", token)
    frames["conversations", "conversations_list"] = await send(
        conversations, {"type": "get_conversations"}, "conversations_list")
    frames["conversations", "filter_options"] = await send(
        conversations, {"type": "get_conversation_filter_options"}, "filter_options")

    chat, *_ = await connect(f"/ws/chat/{conversation.pk}/", token)
    frames["chat", "recent_messages"] = await receive_until(chat, "recent_messages")
    bobs_chat, *_ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(scene["bob"]))
    frames["chat", "user_presence"] = await receive_until(chat, "user_presence")
    frames["chat", "chat_message"] = await send(chat, {"type": "chat_message", "content": "Hi"}, "chat_message")
    frames["conversations", "conversation_updated"] = await receive_until(conversations, "conversation_updated")
    frames["chat", "messages_read"] = await send(chat, {"type": "mark_read"}, "messages_read")
    newest = frames["chat", "chat_message"]["message"]["id"]
    frames["chat", "messages_page"] = await send(
        chat, {"type": "get_messages", "before_id": newest}, "messages_page")
    message = await database_sync_to_async(Message.objects.get)(pk=newest)
    await database_sync_to_async(_atomic(message_publish_updated))(message)
    frames["chat", "message_updated"] = await receive_until(chat, "message_updated")
    frames["any", "pong"] = await send(chat, {"type": "ping"}, "pong")
    frames["any", "authenticated"] = await send(chat, {"type": "authenticate", "token": staff_token(staff)},
                                                "authenticated")
    frames["any", "error"] = await send(chat, {"type": "chat_message", "content": ""}, "error")

    await database_sync_to_async(_atomic(message_receive))(
        conversation=conversation, customer=scene["customer"], content="Are you there?")
    frames["conversations", "new_customer_message"] = await receive_until(conversations, "new_customer_message")
    frames["customers", "customer_updated"] = await receive_until(customers, "customer_updated")
    await database_sync_to_async(_atomic(conversation_create))(
        workspace=scene["customer"].workspace, customer=scene["customer"], source="telegram")
    frames["conversations", "conversation_created"] = await receive_until(conversations, "conversation_created")

    multiplex, *_ = await connect("/api/v1/chat/ws/chat/user", token)
    frames["multiplex", "connected"] = await receive_until(multiplex, "connected")
    web_chat = scene["web_conversation"].pk
    frames["multiplex", "joined"] = await send(multiplex, {"type": "join_chat", "chat_id": web_chat}, "joined")
    frames["multiplex", "message"] = await send(
        multiplex, {"type": "send_message", "chat_id": web_chat, "content": "Hello"}, "message")
    chats = await database_sync_to_async(rest_get)(staff, "/api/v1/chat/chats")
    frames["rest", "chat"] = next(chat for chat in chats if chat["id"] == web_chat)  # while the socket is in it

    await database_sync_to_async(_atomic(customer_upsert_from_platform))(
        workspace=scene["customer"].workspace, source="instagram", external_id="17841400000000123", first_name="Neda")
    frames["customers", "customer_created"] = await receive_until(customers, "customer_created")

    for comm in (customers, conversations, chat, bobs_chat, multiplex):
        await comm.disconnect()
    return frames


def rest_get(user, path: str):
    from django.test import Client

    response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {staff_token(user)}")
    assert response.status_code == 200, response.content
    return response.json()


def inbound_frame_types(socket: str | None) -> set[str]:
    """The frame types the consumers of ``socket`` ("any": of every socket) accept."""
    from fiko.routing import websocket_urlpatterns

    paths = {"customers": "ws/customers/", "conversations": "ws/conversations/", "chat": "ws/chat/",
             "multiplex": "api/v1/chat/ws/chat/"}
    types = set()
    for route in websocket_urlpatterns:
        consumer = route.callback.consumer_class
        if socket == "any" or socket in paths and str(route.pattern).lstrip("^").startswith(paths[socket]):
            types |= {name[3:] for name in dir(consumer) if name.startswith("on_")} | set(consumer.type_aliases)
    return types


def _atomic(function):
    def run(*args, **kwargs):
        with transaction.atomic():
            return function(*args, **kwargs)
    return run


def wire_objects(scene) -> dict[str, dict]:
    """A Conversation (as REST answers it: the same shape everywhere) and a Message, filled in
    the way the doc's examples are (assigned; a reply the platform accepted)."""
    from conversations.services import message_render

    staff, conversation = scene["staff"], scene["conversation"]
    with transaction.atomic():
        conversation_update(conversation=conversation, data={"assignee": staff.pk})
        sent, _ = message_send(conversation=conversation, user=staff, content="Hi")
    Message.objects.filter(pk=sent.pk).update(
        delivery_status="sent", external_send_result={"success": True, "platform": "telegram"})
    with transaction.atomic():
        conversation_mark_read(conversation=conversation, reader_type="customer", reader_id=scene["customer"].pk)
    return {"conversation": rest_get(staff, f"/api/conversations/{conversation.pk}/"),
            "message": message_render(sent)}


# --- the tests ---------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_every_example_frame_in_the_protocol_doc_is_what_the_server_sends(scene):
    examples, problems = doc_examples()
    frames = await capture(scene)
    objects = await database_sync_to_async(wire_objects)(scene)
    checked = 0
    for example in examples:
        value = example["json"]
        if example["h2"] == "Objects on the wire" and example["h3"] in OBJECT_SECTIONS:
            problems += check(example, objects[OBJECT_SECTIONS[example["h3"]]])
            checked += 1
            continue
        socket = SECTIONS.get(example["h2"])
        kind = value.get("type") if isinstance(value, dict) else None
        if socket == "rest":
            kind = "chat"  # the one object the REST section shows
        if socket == "any":
            real = next((frame for (_, frame_type), frame in frames.items() if frame_type == kind), None)
        else:
            real = frames.get((socket, kind))
        if example["inbound"] or real is None and kind in inbound_frame_types(socket):
            # A frame a client sends (authenticate, ping...): it must be one the socket takes;
            # what the server answers is checked with the answer's example.
            if kind not in inbound_frame_types(socket):
                problems.append(f"docs/protocol.md:{example['line']}: {kind!r} is not a frame {example['h2']!r} takes")
            continue
        if real is None:
            if example["block"] or socket is not None and kind in {t for _, t in frames}:
                problems.append(f"docs/protocol.md:{example['line']}: an example of {kind!r} in "
                                f"{example['h2']!r} that this test does not capture (add it to capture())")
            continue
        problems += check(example, real)
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 20, f"only {checked} examples checked: is the doc still being read?"


def test_shape_comparison_finds_drift():
    """The comparison itself: each kind of drift the doc once had is found."""
    example = {"line": 1, "h2": "x", "h3": "", "json": {"type": "filter_options", "options": {
        "sources": ["telegram", "web"], "tags": [{"id": 1, "name": "VIP"}]}}}
    real = {"type": "filter_options", "options": {"sources": ["telegram", "web", "all"],
                                                  "tags": [{"id": 1, "name": "VIP", "color": "#fff"}],
                                                  "max_page_size": 100}}
    problems = "\n".join(check(example, real))
    assert "the doc lists ['telegram', 'web'], the server sends ['telegram', 'web', 'all']" in problems
    assert "keys the doc does not show: ['max_page_size']" in problems
    assert ".options.tags[0]: the server sends keys the doc does not show: ['color']" in problems
    assert check({**example, "json": {"type": "t", "id": "1"}}, {"type": "t", "id": 1})
    assert not check({**example, "json": {"type": "t", "message": {}, MORE_KEYS: MORE_KEYS}},
                     {"type": "t", "message": {"id": 1}, "chat_id": 1})


def test_the_doc_names_only_files_that_exist():
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    named = set(re.findall(r"`([\w./-]+\.md)`", text)) | set(re.findall(r"\]\(([\w./-]+\.md)\)", text))
    missing = [name for name in sorted(named)
               if not (Path(settings.BASE_DIR) / name).exists() and not (PROTOCOL_MD.parent / name).exists()]
    assert not missing, f"docs/protocol.md names files that are not in the repository: {missing}"


@pytest.mark.django_db(transaction=True)
async def test_the_documented_page_size_errors_are_what_the_server_answers(staff, conversation):
    """Limits: over 100 rows a page, the lists answer invalid_filter and the message pages
    invalid_input, on sockets and REST alike; the doc's Limits row says which is which."""
    row = next(line for line in PROTOCOL_MD.read_text(encoding="utf-8").splitlines()
               if line.startswith("| page size"))
    assert re.search(r"lists[^;]*`invalid_filter`;[^|]*message pages[^|]*`invalid_input`", row), row

    token = staff_token(staff)
    customers, *_ = await connect("/ws/customers/", token)
    listed = await send(customers, {"type": "get_customers", "filters": {"page_size": 500}}, "error")
    chat, *_ = await connect(f"/ws/chat/{conversation.pk}/", token)
    paged = await send(chat, {"type": "get_messages", "limit": 500}, "error")
    for comm in (customers, chat):
        await comm.disconnect()
    assert (listed["code"], paged["code"]) == ("invalid_filter", "invalid_input")

    def rest_code(path):
        from django.test import Client

        response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 400, (path, response.status_code)
        return response.json()["code"]

    codes = await database_sync_to_async(lambda: [rest_code(path) for path in (
        "/api/customers/?page_size=500", "/api/conversations/?limit=500",
        f"/api/conversations/{conversation.pk}/messages/?limit=500",
        f"/api/v1/chat/chats/{conversation.pk}/messages?page_size=500", "/api/v1/chat/chats?page_size=500")])()
    assert codes == ["invalid_filter", "invalid_filter", "invalid_input", "invalid_input", "invalid_input"]
