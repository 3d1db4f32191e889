"""Login throttling: 5 failures a minute per account and per IP -> 429 with Retry-After, on the
staff and the customer login endpoints (counters in Django's cache: Redis when REDIS_URL)."""
import time

import pytest
from rest_framework.test import APIClient

from customers.accounts import customer_register
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-12345"
STAFF_ENDPOINTS = [
    ("/api/auth/token/", lambda username: {"username": username}),
    ("/api/v1/auth/login", lambda username: {"username": username}),
    ("/api/v1/auth/login", lambda username: {"email": f"{username}@example.com"}),
]


@pytest.fixture
def api():
    return APIClient()


def post(api, path, body, ip="10.0.0.1"):
    return api.post(path, body, format="json", REMOTE_ADDR=ip)


def assert_throttled(response):
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "rate_limited" and body["detail"].startswith("Too many failed login attempts")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60 and body["retry_after"] == retry_after


@pytest.mark.parametrize("path, login", STAFF_ENDPOINTS)
def test_sixth_attempt_after_five_failures_is_429_even_with_the_right_password(api, staff, path, login):
    for _ in range(5):
        assert post(api, path, {**login("alice"), "password": "wrong-password"}).status_code == 401
    assert_throttled(post(api, path, {**login("alice"), "password": PASSWORD}))


def test_account_block_holds_from_another_ip_and_across_username_and_email(api, staff, workspace):
    for i in range(5):  # five different IPs, so only the account counter fills up
        body = {"username": "alice"} if i % 2 else {"email": "alice@example.com"}
        assert post(api, "/api/v1/auth/login", {**body, "password": "x" * 9}, ip=f"10.0.1.{i}").status_code == 401
    assert_throttled(post(api, "/api/auth/token/", {"username": "alice", "password": PASSWORD}, ip="10.9.9.9"))
    make_user("bob", workspace=workspace)  # another account from that IP is not blocked
    assert post(api, "/api/auth/token/", {"username": "bob", "password": PASSWORD}, ip="10.9.9.9").status_code == 200


def test_ip_block_covers_every_account_from_that_ip(api, staff):
    for i in range(5):  # five different (unknown) accounts from one IP
        assert post(api, "/api/auth/token/", {"username": f"guess{i}", "password": "x"}, ip="10.0.2.1").status_code == 401
    assert_throttled(post(api, "/api/auth/token/", {"username": "alice", "password": PASSWORD}, ip="10.0.2.1"))
    assert post(api, "/api/auth/token/", {"username": "alice", "password": PASSWORD}, ip="10.0.2.2").status_code == 200


def test_four_failures_do_not_block(api, staff):
    for _ in range(4):
        assert post(api, "/api/auth/token/", {"username": "alice", "password": "nope"}).status_code == 401
    assert post(api, "/api/auth/token/", {"username": "alice", "password": PASSWORD}).status_code == 200


def test_block_ends_with_the_window(api, staff, settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 1
    for _ in range(5):
        post(api, "/api/auth/token/", {"username": "alice", "password": "nope"})
    response = post(api, "/api/auth/token/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429 and response["Retry-After"] == "1"
    time.sleep(2.1)
    assert post(api, "/api/auth/token/", {"username": "alice", "password": PASSWORD}).status_code == 200


@pytest.mark.parametrize("login", [{"email": "jane@example.com"}, {"phone": "+15550100"}])
def test_customer_login_is_throttled_per_account(api, workspace, login):
    customer_register(workspace="acme", first_name="Jane", email="jane@example.com", phone="+15550100",
                      password="secret-pass")
    for i in range(5):
        response = post(api, "/api/v1/customer-auth/login", {"workspace": "acme", **login, "password": "wrong-pass"},
                        ip=f"10.0.3.{i}")
        assert response.status_code == 401
    body = {"workspace": "acme", **login, "password": "secret-pass"}
    assert_throttled(post(api, "/api/v1/customer-auth/login", body, ip="10.0.3.200"))


def test_customer_login_is_throttled_per_ip(api, workspace):
    customer_register(workspace="acme", first_name="Jane", email="jane@example.com", password="secret-pass")
    for i in range(5):
        body = {"workspace": "acme", "email": f"guess{i}@example.com", "password": "wrong-pass"}
        assert post(api, "/api/v1/customer-auth/login", body, ip="10.0.4.1").status_code == 401
    body = {"workspace": "acme", "email": "jane@example.com", "password": "secret-pass"}
    assert_throttled(post(api, "/api/v1/customer-auth/login", body, ip="10.0.4.1"))
    assert post(api, "/api/v1/customer-auth/login", body, ip="10.0.4.2").status_code == 200
