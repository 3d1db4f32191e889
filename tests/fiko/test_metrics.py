"""Socket series of /metrics (fiko/metrics.py), driven through the real ASGI application:
open sockets by route and dialect, frames in and out by type, error frames by code, closes by
code (counted at disconnect: on a real server, tests/fiko/test_ops_endpoints.py), publish
latency. Label values stay bounded whatever clients send."""
import json

import pytest
from prometheus_client import REGISTRY

from fiko import metrics
from tests.sockets import connect, receive_until, staff_token

pytestmark = pytest.mark.django_db(transaction=True)
CHAT = {"route": "^ws/chat/(?P<conversation_id>[^/]+)/$", "dialect": "Chat"}


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_socket_life_is_counted(staff, conversation):
    open_before = value("fiko_ws_open_sockets", **CHAT)
    pongs, unknown = value("fiko_ws_frames_out_total", type="pong"), value("fiko_ws_frames_in_total", type="unknown")
    pings = value("fiko_ws_frames_in_total", type="ping")
    errors = value("fiko_ws_error_frames_total", code="unknown_type")
    publishes = value("fiko_publish_seconds_count", mode="on_commit")

    communicator, connected, _ = await connect(f"/ws/chat/{conversation.pk}/", staff_token(staff))
    assert connected
    await receive_until(communicator, "recent_messages")
    await communicator.send_to(text_data=json.dumps({"type": "ping"}))
    await receive_until(communicator, "pong")  # handled after connect has returned
    assert value("fiko_ws_open_sockets", **CHAT) == open_before + 1
    await communicator.send_to(text_data=json.dumps({"type": "x" * 40}))
    await receive_until(communicator, "error")
    await communicator.send_to(text_data=json.dumps({"type": "chat_message", "content": "counted"}))
    await receive_until(communicator, "chat_message")
    await communicator.disconnect(code=1000)

    assert value("fiko_ws_open_sockets", **CHAT) == open_before
    assert value("fiko_ws_frames_out_total", type="pong") == pongs + 1
    assert value("fiko_ws_frames_in_total", type="ping") == pings + 1
    assert value("fiko_ws_frames_in_total", type="unknown") == unknown + 1  # never the client's text
    assert value("fiko_ws_frames_in_total", type="x" * 40) == 0
    assert value("fiko_ws_error_frames_total", code="unknown_type") == errors + 1
    assert value("fiko_publish_seconds_count", mode="on_commit") >= publishes + 1


def test_frame_types_are_read_from_the_first_key_and_bounded():
    before = value("fiko_ws_frames_out_total", type="connected")
    metrics.frame_out('{"type":"connected","participant_type":"user"}')
    assert value("fiko_ws_frames_out_total", type="connected") == before + 1
    other = value("fiko_ws_frames_out_total", type="other")
    metrics.frame_out('{"message":"no type first"}')
    assert value("fiko_ws_frames_out_total", type="other") == other + 1
    for n in range(metrics.MAX_TYPES + 5):
        metrics.frame_out(f'{{"type":"t{n}"}}')
    assert len(metrics._frames_out) <= metrics.MAX_TYPES + 1
    metrics.close_closed(3999)
    assert value("fiko_ws_closes_total", code="3999") == 0 and value("fiko_ws_closes_total", code="other") >= 1


def test_request_latency_is_labelled_by_url_pattern_never_by_raw_path(client):
    listed = {"view": "api/conversations/$", "method": "GET", "status": "401"}
    unmatched = {"view": "unmatched", "method": "GET", "status": "404"}
    before = value("fiko_http_request_seconds_count", **listed), value("fiko_http_request_seconds_count", **unmatched)
    assert client.get("/api/conversations/").status_code == 401
    assert client.get("/no/such/path/12345/").status_code == 404
    assert value("fiko_http_request_seconds_count", **listed) == before[0] + 1
    assert value("fiko_http_request_seconds_count", **unmatched) == before[1] + 1
