"""WebSocket authentication through fiko.asgi.application: tokens (query and subprotocol), the
session cookie and its Origin rule, the handshake Origin guard, and token expiry on a live socket."""
import asyncio
import time

import pytest
from django.test import Client

from tests.fiko.token_helpers import customer_access_token, staff_access_token
from tests.sockets import connect, customer_token, receive_closed_code, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)

STAFF_SOCKETS = ["/ws/customers/", "/ws/conversations/", "/api/v1/chat/ws/chat/user"]
CUSTOMER_SOCKET = "/api/v1/chat/ws/chat/customer"
HOST = [(b"host", b"fiko.example.com")]


async def assert_closed_1008(comm, reason: str):
    frames, code = await receive_closed_code(comm)
    assert code == 1008
    assert frames and frames[0]["type"] == "error"
    assert frames[0]["error"] == frames[0]["message"] == reason


async def assert_open(comm):
    await comm.send_json_to({"type": "ping"})
    assert (await receive_until(comm, "pong"))["timestamp"].endswith("Z")


# --- which tokens are refused --------------------------------------------------------------
@pytest.mark.parametrize("path", STAFF_SOCKETS + [CUSTOMER_SOCKET, "/ws/chat/1/"])
async def test_missing_token_is_accepted_then_closed_1008(db, path):
    comm, connected, _ = await connect(path)
    assert connected  # browsers only see the close code of an accepted socket
    await assert_closed_1008(comm, "Authentication required")


@pytest.mark.parametrize("path", STAFF_SOCKETS + [CUSTOMER_SOCKET])
async def test_garbage_token_is_closed_1008(db, path):
    comm, connected, _ = await connect(path, "not.a.jwt")
    assert connected
    await assert_closed_1008(comm, "Invalid or expired token")


@pytest.mark.parametrize("path", STAFF_SOCKETS)
async def test_expired_staff_token_is_closed_1008(staff, path):
    comm, connected, _ = await connect(path, staff_access_token(staff, seconds=-1))
    assert connected
    await assert_closed_1008(comm, "Invalid or expired token")


async def test_expired_customer_token_is_closed_1008(customer):
    comm, _, _ = await connect(CUSTOMER_SOCKET, customer_access_token(customer, seconds=-1))
    await assert_closed_1008(comm, "Invalid or expired token")


@pytest.mark.parametrize("path", STAFF_SOCKETS)
async def test_customer_token_on_a_staff_socket_is_closed_1008(customer, path):
    comm, connected, _ = await connect(path, customer_token(customer))
    assert connected
    await assert_closed_1008(comm, "A staff token is required")


async def test_staff_token_on_the_customer_socket_is_closed_1008(staff):
    comm, connected, _ = await connect(CUSTOMER_SOCKET, staff_token(staff))
    assert connected
    await assert_closed_1008(comm, "A customer token is required")


async def test_the_right_tokens_are_accepted(staff, customer):
    comm, _, _ = await connect("/api/v1/chat/ws/chat/user", staff_token(staff))
    assert await comm.receive_json_from() == {"type": "connected", "participant_type": "user", "participant_id": staff.pk}
    await comm.disconnect()
    comm, _, _ = await connect(CUSTOMER_SOCKET, customer_token(customer))
    frame = await comm.receive_json_from()
    assert frame == {"type": "connected", "participant_type": "customer", "participant_id": customer.pk}
    await comm.disconnect()


# --- subprotocol ---------------------------------------------------------------------------
async def test_bearer_subprotocol_carries_the_token(staff):
    comm, connected, subprotocol = await connect("/ws/customers/", subprotocols=["bearer", staff_token(staff)])
    assert connected and subprotocol == "bearer"
    await assert_open(comm)
    await comm.disconnect()


async def test_bearer_subprotocol_with_a_bad_token_is_closed_1008(staff):
    comm, connected, subprotocol = await connect("/ws/customers/", subprotocols=["bearer", "garbage"])
    assert connected and subprotocol == "bearer"
    await assert_closed_1008(comm, "Invalid or expired token")


# --- session cookie ------------------------------------------------------------------------
@pytest.fixture
def session_cookie(staff):
    client = Client()
    assert client.login(username="alice", password="pw-12345")
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_session_cookie_works_with_the_servers_own_origin(session_cookie):
    headers = [*HOST, (b"origin", b"https://fiko.example.com"), (b"cookie", session_cookie)]
    comm, connected, _ = await connect("/ws/customers/", headers=headers)
    assert connected
    await assert_open(comm)
    await comm.disconnect()


async def test_session_cookie_works_with_an_allowed_origin(session_cookie, settings):
    settings.ALLOWED_ORIGINS = ["https://app.example.org"]
    headers = [*HOST, (b"origin", b"https://app.example.org"), (b"cookie", session_cookie)]
    comm, connected, _ = await connect("/ws/conversations/", headers=headers)
    assert connected
    await assert_open(comm)
    await comm.disconnect()


async def test_session_cookie_without_origin_is_refused(session_cookie):
    comm, connected, _ = await connect("/ws/customers/", headers=[*HOST, (b"cookie", session_cookie)])
    assert connected
    await assert_closed_1008(comm, "Authentication required")


async def test_session_cookie_is_not_a_customer_credential(session_cookie):
    headers = [*HOST, (b"origin", b"https://fiko.example.com"), (b"cookie", session_cookie)]
    comm, _, _ = await connect(CUSTOMER_SOCKET, headers=headers)
    await assert_closed_1008(comm, "A customer token is required")


async def test_a_forged_session_cookie_is_refused(db):
    headers = [*HOST, (b"origin", b"https://fiko.example.com"), (b"cookie", b"sessionid=forged")]
    comm, _, _ = await connect("/ws/customers/", headers=headers)
    await assert_closed_1008(comm, "Authentication required")


# --- Origin at the handshake ---------------------------------------------------------------
@pytest.mark.parametrize("origin", [b"https://evil.example.net", b"null", b"http://fiko.example.com.evil.net"])
async def test_foreign_origin_is_refused_at_the_handshake_even_with_a_token(staff, origin):
    comm, connected, code = await connect("/ws/customers/", staff_token(staff), headers=[*HOST, (b"origin", origin)])
    assert not connected and code == 1008


async def test_foreign_origin_is_refused_while_allowed_ones_pass(staff, settings):
    settings.ALLOWED_ORIGINS = ["https://app.example.org"]
    token = staff_token(staff)
    for origin, ok in [(b"https://app.example.org", True), (b"https://fiko.example.com", True),
                       (b"http://fiko.example.com", True), (b"https://other.example.org", False)]:
        comm, connected, _ = await connect("/ws/customers/", token, headers=[*HOST, (b"origin", origin)])
        assert connected is ok, origin
        if ok:
            await assert_open(comm)
            await comm.disconnect()


async def test_no_origin_with_a_token_is_allowed(staff):
    comm, connected, _ = await connect("/ws/customers/", staff_token(staff), headers=HOST)
    assert connected
    await assert_open(comm)
    await comm.disconnect()


# --- token expiry on a live socket -----------------------------------------------------------
@pytest.mark.parametrize("path", ["/ws/customers/", "/api/v1/chat/ws/chat/user"])
async def test_token_expiring_while_connected_sends_token_expired_then_1008(staff, path):
    comm, connected, _ = await connect(path, staff_access_token(staff, seconds=2))
    assert connected
    await assert_open(comm)
    frames, code = await receive_closed_code(comm, timeout=5)
    assert code == 1008
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "token_expired"


async def test_customer_token_expiring_while_connected(customer):
    comm, _, _ = await connect(CUSTOMER_SOCKET, customer_access_token(customer, seconds=2))
    frames, code = await receive_closed_code(comm, timeout=5)
    assert code == 1008 and frames[-1]["code"] == "token_expired"


async def test_authenticate_with_a_fresh_token_keeps_the_socket_open(staff):
    comm, _, _ = await connect("/ws/customers/", staff_access_token(staff, seconds=2))
    await comm.send_json_to({"type": "authenticate", "token": staff_token(staff)})
    renewed = await receive_until(comm, "authenticated")
    assert renewed["expires_at"] > time.time() + 60  # the fresh token's expiry (an hour by default)
    await asyncio.sleep(3)  # past the first token's expiry
    assert await comm.receive_nothing(timeout=0.2)
    await assert_open(comm)
    await comm.disconnect()


async def test_authenticate_with_a_customer_token_renews_a_customer_socket(customer):
    comm, _, _ = await connect(CUSTOMER_SOCKET, customer_access_token(customer, seconds=2))
    await receive_until(comm, "connected")
    await comm.send_json_to({"type": "authenticate", "token": customer_token(customer)})
    await receive_until(comm, "authenticated")
    await asyncio.sleep(3)
    await assert_open(comm)
    await comm.disconnect()


@pytest.mark.parametrize("token_for", ["garbage", "expired", "someone_else", "customer"])
async def test_authenticate_with_an_unusable_token_is_an_error_and_expiry_still_applies(
    staff, other_staff, customer, token_for
):
    token = {
        "garbage": "garbage",
        "expired": staff_access_token(staff, seconds=-1),
        "someone_else": staff_token(other_staff),
        "customer": customer_token(customer),
    }[token_for]
    comm, _, _ = await connect("/ws/customers/", staff_access_token(staff, seconds=2))
    await comm.send_json_to({"type": "authenticate", "token": token})
    error = await receive_until(comm, "error")
    assert error["code"] == "forbidden"
    frames, code = await receive_closed_code(comm, timeout=5)
    assert code == 1008 and frames[-1]["code"] == "token_expired"


async def test_authenticate_without_a_token_is_an_error_frame(staff):
    comm, _, _ = await connect("/ws/customers/", staff_token(staff))
    await comm.send_json_to({"type": "authenticate"})
    error = await receive_until(comm, "error")
    assert error["code"] == "invalid_input" and error["error"] == "authenticate needs a token"
    await assert_open(comm)
    await comm.disconnect()


# --- the chat socket: the token's user is checked with the conversation's access ---------------
# /ws/chat/<id>/ (verifies_principal) gets no user query from the middleware: its handshake
# checks the user and the conversation in one query. Every rule above must hold there too, and
# every other socket must still get a loaded, checked user.
def chat_path(conversation):
    return f"/ws/chat/{conversation.pk}/"


async def test_chat_socket_refuses_bad_tokens_with_1008(staff, customer, conversation):
    for token, reason in [("not.a.jwt", "Invalid or expired token"),
                          (staff_access_token(staff, seconds=-1), "Invalid or expired token"),
                          (customer_token(customer), "A staff token is required")]:
        comm, connected, _ = await connect(chat_path(conversation), token)
        assert connected
        await assert_closed_1008(comm, reason)


@pytest.mark.parametrize("path", STAFF_SOCKETS + ["chat"])
@pytest.mark.parametrize("change", ["deactivated", "deleted"])
async def test_a_valid_token_of_a_deactivated_or_deleted_user_is_closed_1008(staff, conversation, path, change):
    from channels.db import database_sync_to_async
    from django.contrib.auth import get_user_model

    token = staff_token(staff)
    users = get_user_model().objects.filter(pk=staff.pk)
    await database_sync_to_async(users.update if change == "deactivated" else users.delete)(
        **({"is_active": False} if change == "deactivated" else {}))
    comm, connected, _ = await connect(chat_path(conversation) if path == "chat" else path, token)
    assert connected
    await assert_closed_1008(comm, "Invalid or expired token")


async def test_chat_socket_checks_the_user_before_the_conversation(staff, conversation):
    """A deactivated user asking for a missing conversation is told 1008 (credentials), not 4404."""
    from channels.db import database_sync_to_async
    from django.contrib.auth import get_user_model

    token = staff_token(staff)
    await database_sync_to_async(get_user_model().objects.filter(pk=staff.pk).update)(is_active=False)
    for path in ["/ws/chat/999999/", "/ws/chat/abc/"]:
        comm, _, _ = await connect(path, token)
        await assert_closed_1008(comm, "Invalid or expired token")


async def test_chat_socket_with_the_bearer_subprotocol_and_the_session_cookie(staff, conversation, session_cookie):
    comm, connected, subprotocol = await connect(chat_path(conversation), subprotocols=["bearer", staff_token(staff)])
    assert connected and subprotocol == "bearer"
    assert (await comm.receive_json_from())["type"] == "recent_messages"
    await assert_open(comm)
    await comm.disconnect()
    headers = [*HOST, (b"origin", b"https://fiko.example.com"), (b"cookie", session_cookie)]
    comm, connected, _ = await connect(chat_path(conversation), headers=headers)
    assert connected
    assert (await comm.receive_json_from())["type"] == "recent_messages"
    await assert_open(comm)
    await comm.disconnect()
    comm, _, _ = await connect(chat_path(conversation), headers=[*HOST, (b"cookie", session_cookie)])
    await assert_closed_1008(comm, "Authentication required")  # no Origin: the cookie alone is not enough


async def test_the_middleware_loads_the_user_except_for_a_consumer_that_verifies_it(staff, customer):
    """What TokenAuthMiddleware hands each route: a loaded User (and Customer) everywhere but on
    a consumer with ``verifies_principal``, which gets the token's user id only."""
    from channels.routing import URLRouter
    from django.contrib.auth import get_user_model
    from django.urls import path, re_path

    from fiko.tokens import ClaimedUser
    from fiko.ws_auth import TokenAuthMiddleware

    seen = []

    def app_for(verifies):
        async def app(scope, receive, send):
            seen.append(scope["principal"])
        app.consumer_class = type("Consumer", (), {"verifies_principal": verifies})
        return app

    middleware = TokenAuthMiddleware(URLRouter([
        re_path(r"^ws/chat/(?P<conversation_id>[^/]+)/$", app_for(True)),
        path("ws/list/", app_for(False)),
    ]))
    for url, token in [("/ws/chat/5/", staff_token(staff)), ("/ws/list/", staff_token(staff)),
                       ("/ws/chat/6/", customer_token(customer))]:
        await middleware({"type": "websocket", "path": url, "query_string": f"token={token}".encode(),
                          "headers": []}, None, None)
    seen = dict(zip(["chat", "list", "chat-customer"], seen))
    assert type(seen["chat"].user) is ClaimedUser and seen["chat"].user.pk == staff.pk
    assert not hasattr(seen["chat"].user, "username")  # nothing unchecked can pass for loaded
    assert isinstance(seen["list"].user, get_user_model()) and seen["list"].user.username == "alice"
    assert seen["chat-customer"].customer.pk == customer.pk  # only staff principals are deferred
