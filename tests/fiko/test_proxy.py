"""fiko/proxy.py: X-Forwarded-For / X-Forwarded-Proto count only from TRUSTED_PROXIES.
(Through a real nginx: tests/deploy/test_nginx_live.py.)"""
import pytest
from django.core.exceptions import ImproperlyConfigured

from fiko.proxy import TrustedProxyHeaders, parse_networks, resolve_client


def scope_seen_by_app(trusted, client, headers, kind="http", scheme="http"):
    seen = {}

    async def app(scope, receive, send):
        seen.update(scope)

    guard = TrustedProxyHeaders(app, trusted=trusted)
    raw = [(name.lower().encode(), value.encode()) for name, value in headers]
    scope = {"type": kind, "client": (client, 50000), "scheme": scheme, "headers": raw, "path": "/"}
    import asyncio
    asyncio.run(guard(scope, None, None))
    return seen


NGINX = ["10.0.0.5"]


def test_a_trusted_proxy_names_the_client():
    seen = scope_seen_by_app(NGINX, "10.0.0.5", [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")])
    assert seen["client"][0] == "203.0.113.7" and seen["scheme"] == "https"


def test_anyone_else_cannot_choose_their_address_or_scheme():
    seen = scope_seen_by_app(NGINX, "198.51.100.9", [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")])
    assert seen["client"] == ("198.51.100.9", 50000) and seen["scheme"] == "http"


def test_without_trusted_proxies_the_headers_mean_nothing():
    seen = scope_seen_by_app([], "10.0.0.5", [("X-Forwarded-For", "203.0.113.7")])
    assert seen["client"] == ("10.0.0.5", 50000)


def test_what_a_client_wrote_left_of_the_proxy_is_ignored():
    # The client sent "X-Forwarded-For: 1.1.1.1"; nginx appended the address it saw.
    seen = scope_seen_by_app(NGINX, "10.0.0.5", [("X-Forwarded-For", "1.1.1.1, 203.0.113.7")])
    assert seen["client"][0] == "203.0.113.7"


def test_chained_trusted_proxies_are_skipped_from_the_right():
    networks = parse_networks(["10.0.0.0/24"])
    assert resolve_client("10.0.0.5", ["203.0.113.7", "10.0.0.9"], networks) == "203.0.113.7"
    # Every hop trusted: the left-most is the best we know.
    assert resolve_client("10.0.0.5", ["10.0.0.7", "10.0.0.9"], networks) == "10.0.0.7"


def test_an_unreadable_hop_stops_the_walk_at_the_last_good_address():
    networks = parse_networks(["10.0.0.5"])
    assert resolve_client("10.0.0.5", ["203.0.113.7", "not-an-ip"], networks) == "10.0.0.5"
    assert resolve_client("10.0.0.5", ["garbage", "203.0.113.7"], networks) == "203.0.113.7"


def test_repeated_headers_are_read_in_order_and_ipv6_works():
    seen = scope_seen_by_app(["::1"], "::1", [("X-Forwarded-For", "2001:db8::1"), ("X-Forwarded-For", "[2001:db8::2]")])
    assert seen["client"][0] == "2001:db8::2"


def test_websocket_scheme_becomes_wss_behind_tls():
    seen = scope_seen_by_app(NGINX, "10.0.0.5", [("X-Forwarded-Proto", "https")], kind="websocket", scheme="ws")
    assert seen["scheme"] == "wss"
    seen = scope_seen_by_app(NGINX, "10.0.0.5", [("X-Forwarded-Proto", "gopher")], kind="websocket", scheme="ws")
    assert seen["scheme"] == "ws"


def test_a_bad_setting_is_refused_at_startup():
    with pytest.raises(ImproperlyConfigured, match="not-a-network"):
        parse_networks(["10.0.0.1", "not-a-network"])
