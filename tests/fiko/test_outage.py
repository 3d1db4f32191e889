"""One outage behaviour (SPEC; issue 10, item 2): while the database or Redis is down, REST
answers JSON 503 ``{"code": "unavailable"}`` with ``Retry-After`` (a DRF view and a plain Django
path alike), a socket handshake is accepted and closed 1011 after an ``unavailable`` frame, and
staff and customer login keep working without Redis (the throttle counts in the process).

"Down" is real: the connection settings point at a closed port, so the driver fails to connect
exactly as when the server is stopped (the drills in tests/drills/ stop real servers).
"""
import logging

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import Client

from fiko import login_throttle
from fiko.login_throttle import MAX_FAILURES
from tests.integrations.conftest import closed_port, database_unreachable
from tests.sockets import connect, receive_closed_code, staff_token

pytestmark = pytest.mark.django_db(transaction=True)


def point_cache_at_a_closed_port(settings):
    """Django's cache (the login throttle's counters) pointed at a Redis that is not there
    (changing CACHES resets Django's cache handlers; the fixture restores them)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"}}


def assert_unavailable(response):
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "unavailable" and body["detail"]
    assert int(response["Retry-After"]) > 0


def test_rest_is_json_503_with_retry_after_while_the_database_is_down(staff):
    token = staff_token(staff)
    client = Client(headers={"Authorization": f"Bearer {token}"})
    assert client.get("/api/conversations/").status_code == 200
    with database_unreachable():
        assert_unavailable(client.get("/api/conversations/"))  # a DRF view
        assert_unavailable(client.get("/api/v1/chat/chats"))
        assert_unavailable(Client().post("/api/v1/auth/login", {"username": "alice", "password": "x"},
                                         content_type="application/json"))
    assert client.get("/api/conversations/").status_code == 200  # and back


def test_a_plain_django_path_is_json_503_too_while_the_database_is_down(staff):
    """The admin is no DRF view: its session read fails in a middleware. (The test client
    re-raises a handled exception unless told not to: a server answers what the handler made.)"""
    client = Client(raise_request_exception=False)
    client.force_login(staff)
    with database_unreachable():
        assert_unavailable(client.get("/admin/"))


def test_a_socket_handshake_while_the_database_is_down_is_accepted_then_1011(conversation, staff):
    token = staff_token(staff)

    async def handshakes():
        for path in ("/ws/conversations/", "/api/v1/chat/ws/chat/user", f"/ws/chat/{conversation.pk}/"):
            communicator, connected, _ = await connect(path, token)
            assert connected, path  # accepted: the browser sees the code, not 1006
            frames, code = await receive_closed_code(communicator, timeout=10)
            assert code == 1011, (path, code, frames)
            assert frames[-1]["type"] == "error" and frames[-1]["code"] == "unavailable", (path, frames)

    with database_unreachable():
        async_to_sync(handshakes)()


def test_a_frame_that_meets_a_database_outage_gets_unavailable_then_1011(conversation, staff):
    """SPEC: unavailable "at the handshake or later" -> error frame, then 1011; the client
    reconnects and catches up by seq."""
    from tests.sockets import receive_until

    async def scenario():
        communicator, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(staff))
        assert connected
        await receive_until(communicator, "recent_messages")
        await sync_to_async(_enter_outage)()
        try:
            await communicator.send_json_to({"type": "get_messages", "after_id": 1})
            frames, code = await receive_closed_code(communicator, timeout=10)
        finally:
            await sync_to_async(_leave_outage)()
        assert code == 1011, (code, frames)
        assert frames[-1]["type"] == "error" and frames[-1]["code"] == "unavailable", frames

    async_to_sync(scenario)()


_outage = []


def _enter_outage():
    _outage.append(database_unreachable())
    _outage[-1].__enter__()


def _leave_outage():
    _outage.pop().__exit__(None, None, None)


def test_login_keeps_working_without_redis_and_still_throttles_per_process(staff, workspace, settings, caplog):
    login_throttle._process_cache.clear()  # noqa: SLF001 - this process's fallback counters
    point_cache_at_a_closed_port(settings)
    with caplog.at_level(logging.WARNING, "fiko.login_throttle"):
        ok = Client().post("/api/v1/auth/login", {"username": "alice", "password": "pw-12345"},
                           content_type="application/json")
        assert ok.status_code == 200, ok.content
        assert ok.json()["access_token"]
        assert "shared cache unavailable" in caplog.text

        registered = Client().post("/api/v1/customer-auth/register", {
            "workspace": workspace.slug, "first_name": "Wendy", "email": "wendy@example.com",
            "password": "wendy-secret-1"}, content_type="application/json")
        assert registered.status_code in (200, 201), registered.content
        customer = Client().post("/api/v1/customer-auth/login", {
            "workspace": workspace.slug, "email": "wendy@example.com", "password": "wendy-secret-1"},
            content_type="application/json")
        assert customer.status_code == 200, customer.content

        for _ in range(MAX_FAILURES):
            wrong = Client().post("/api/v1/auth/login", {"username": "alice", "password": "wrong"},
                                  content_type="application/json")
            assert wrong.status_code == 401
        throttled = Client().post("/api/v1/auth/login", {"username": "alice", "password": "pw-12345"},
                                  content_type="application/json")
        assert throttled.status_code == 429 and throttled["Retry-After"]
    login_throttle._process_cache.clear()  # noqa: SLF001
