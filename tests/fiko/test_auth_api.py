"""Staff sign-in, token refresh, /api/v1/auth/me and every kind of token on a staff endpoint."""
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from fiko.tokens import customer_tokens_for, staff_tokens_for
from tests.factories import make_user, make_workspace
from tests.fiko.token_helpers import claims, customer_access_token, staff_access_token
from workspaces.models import Membership

pytestmark = pytest.mark.django_db

PASSWORD = "pw-12345"  # tests.factories.make_user


@pytest.fixture
def api():
    return APIClient()


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def me(api, token: str):
    return api.get("/api/v1/auth/me", **bearer(token))


# --- POST /api/auth/token/ ------------------------------------------------------------------
def test_token_pair_for_staff_is_a_staff_token_that_opens_staff_endpoints(api, staff, workspace):
    response = api.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    access = response.json()["access"]
    assert claims(access)["kind"] == "staff" and int(claims(access)["user_id"]) == staff.pk
    answer = me(api, access)
    assert answer.status_code == 200
    assert answer.json() == {
        "id": staff.pk, "username": "alice", "email": "alice@example.com", "first_name": "", "last_name": "",
        "is_superuser": False,
        "workspaces": [{"id": workspace.pk, "slug": "acme", "name": "Acme", "role": "owner"}],
    }


@pytest.mark.parametrize(
    "body",
    [{"username": "alice", "password": "wrong-password"}, {"username": "nobody", "password": PASSWORD},
     {"username": "ALICE", "password": PASSWORD}],
)
def test_wrong_credentials_are_401_with_a_reason(api, staff, body):
    response = api.post("/api/auth/token/", body, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid username or password", "code": "invalid_credentials"}
    assert "access" not in response.json()


@pytest.mark.parametrize(
    "body, field",
    [({"password": PASSWORD}, "username"), ({"username": "alice"}, "password"),
     ({"username": "alice", "password": ""}, "password"), ({"username": ["alice"], "password": PASSWORD}, "username")],
)
def test_missing_fields_are_400_naming_the_field(api, staff, body, field):
    response = api.post("/api/auth/token/", body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field and field in response.json()["detail"]


def test_a_body_that_is_not_an_object_is_400(api, staff):
    response = api.post("/api/auth/token/", ["alice", PASSWORD], format="json")
    assert response.status_code == 400 and response.json()["detail"] == "Request body must be a JSON object"
    response = api.post("/api/auth/token/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON" in response.json()["detail"]


def test_inactive_user_gets_no_token(api, staff):
    get_user_model().objects.filter(pk=staff.pk).update(is_active=False)
    response = api.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 401


def test_user_without_a_workspace_gets_403_but_a_superuser_gets_a_token(api, db):
    make_user("stray")
    response = api.post("/api/auth/token/", {"username": "stray", "password": PASSWORD}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "This account is not a member of any workspace", "code": "forbidden"}
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    response = api.post("/api/auth/token/", {"username": "root", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    assert me(api, response.json()["access"]).json()["workspaces"] == []


def test_a_stale_authorization_header_does_not_block_signing_in(api, staff, customer):
    response = api.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json",
                        **bearer(customer_tokens_for(customer)["access"]))
    assert response.status_code == 200
    response = api.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json",
                        HTTP_AUTHORIZATION="Bearer garbage")
    assert response.status_code == 200


# --- POST /api/v1/auth/login (seed 004) -------------------------------------------------------
@pytest.mark.parametrize("login", [{"username": "alice"}, {"email": "alice@example.com"}, {"email": "Alice@Example.COM"}])
def test_v1_login_by_username_or_email(api, staff, login):
    response = api.post("/api/v1/auth/login", {**login, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "access", "refresh"}
    assert body["token_type"] == "bearer"
    assert body["access"] == body["access_token"] and body["refresh"] == body["refresh_token"]
    assert claims(body["access_token"])["kind"] == "staff"
    assert me(api, body["access_token"]).json()["id"] == staff.pk


def test_v1_login_wrong_or_missing(api, staff):
    response = api.post("/api/v1/auth/login", {"email": "alice@example.com", "password": "nope-nope"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid email or password", "code": "invalid_credentials"}
    assert response["WWW-Authenticate"].startswith("Bearer")
    response = api.post("/api/v1/auth/login", {"email": "nobody@example.com", "password": PASSWORD}, format="json")
    assert response.status_code == 401
    response = api.post("/api/v1/auth/login", {"password": PASSWORD}, format="json")
    assert response.status_code == 400 and response.json()["detail"] == "username or email is required"


# --- tokens on a staff endpoint ---------------------------------------------------------------
def test_customer_token_is_refused_on_a_staff_endpoint(api, staff, customer):
    response = me(api, customer_tokens_for(customer)["access"])
    assert response.status_code == 401
    assert response.json()["detail"] == "A staff token is required here."


@pytest.mark.parametrize("make_token", [
    lambda user: "garbage",
    lambda user: staff_access_token(user, seconds=-5),  # expired
    lambda user: staff_tokens_for(user)["refresh"],  # a refresh token is not an access token
    lambda user: staff_tokens_for(user)["access"][:-3] + "abc",  # bad signature
])
def test_bad_tokens_are_refused_with_a_reason(api, staff, make_token):
    response = me(api, make_token(staff))
    assert response.status_code == 401
    assert response.json()["detail"] == "Token is invalid or expired."


def test_no_credentials_is_401(api, staff):
    assert api.get("/api/v1/auth/me").status_code == 401


def test_token_of_a_deleted_user_is_refused(api, staff):
    token = staff_tokens_for(staff)["access"]
    staff.delete()
    assert me(api, token).status_code == 401


def test_session_login_works_on_me(client, staff):
    assert client.login(username="alice", password=PASSWORD)
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 200 and response.json()["username"] == "alice"


@pytest.mark.parametrize("count", [1, 20])
def test_me_query_count_does_not_grow_with_workspaces(api, db, count):
    user = make_user("multi")
    for i in range(count):
        Membership.objects.create(workspace=make_workspace(f"ws{i}"), user=user)
    token = staff_tokens_for(user)["access"]
    with CaptureQueriesContext(connection) as queries:
        response = me(api, token)
    assert response.status_code == 200 and len(response.json()["workspaces"]) == count
    assert len(queries) == 2  # the user (token), the memberships with their workspaces


# --- POST /api/auth/token/refresh/ ------------------------------------------------------------
def test_refresh_gives_a_new_staff_access_token(api, staff):
    refresh = staff_tokens_for(staff)["refresh"]
    response = api.post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 200 and set(response.json()) == {"access"}
    access = response.json()["access"]
    assert claims(access)["kind"] == "staff"
    assert me(api, access).status_code == 200


def test_refresh_of_a_customer_token_stays_a_customer_token(api, staff, customer):
    refresh = customer_tokens_for(customer)["refresh"]
    response = api.post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 200
    access = response.json()["access"]
    assert claims(access)["kind"] == "customer" and claims(access)["customer_id"] == customer.pk
    assert "user_id" not in claims(access)
    assert me(api, access).status_code == 401  # still not a staff token


@pytest.mark.parametrize("make_refresh", [
    lambda user: "garbage",
    lambda user: staff_tokens_for(user)["access"],  # an access token is not a refresh token
])
def test_bad_refresh_tokens_are_401(api, staff, make_refresh):
    response = api.post("/api/auth/token/refresh/", {"refresh": make_refresh(staff)}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Refresh token is invalid or expired", "code": "invalid_credentials"}


def test_expired_refresh_token_is_401(api, staff):
    from datetime import timedelta

    refresh = RefreshToken.for_user(staff)
    refresh["kind"] = "staff"
    refresh.set_exp(lifetime=timedelta(seconds=-1))
    response = api.post("/api/auth/token/refresh/", {"refresh": str(refresh)}, format="json")
    assert response.status_code == 401


def test_refresh_without_the_field_is_400(api, db):
    response = api.post("/api/auth/token/refresh/", {}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "refresh"


@pytest.mark.parametrize("change", ["delete", "deactivate", "leave_workspace"])
def test_refresh_for_a_user_who_may_no_longer_sign_in_is_401_not_500(api, staff, change):
    refresh = staff_tokens_for(staff)["refresh"]
    if change == "delete":
        staff.delete()
    elif change == "deactivate":
        get_user_model().objects.filter(pk=staff.pk).update(is_active=False)
    else:
        Membership.objects.filter(user=staff).delete()
    response = api.post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 401


def test_refresh_for_a_deleted_customer_is_401(api, customer):
    refresh = customer_tokens_for(customer)["refresh"]
    customer.delete()
    assert api.post("/api/auth/token/refresh/", {"refresh": refresh}, format="json").status_code == 401


def test_expired_customer_token_is_refused_like_a_staff_one(api, customer):
    from fiko.tokens import InvalidCredentials, principal_from_access_token

    with pytest.raises(InvalidCredentials):
        principal_from_access_token(customer_access_token(customer, seconds=-1))


@pytest.mark.parametrize("path, body, field", [
    ("/api/auth/token/", {"username": "al\x00ice", "password": PASSWORD}, "username"),
    ("/api/v1/auth/login", {"email": "alice\x00@example.com", "password": PASSWORD}, "email"),
    ("/api/auth/token/", {"username": "a" * 100_000, "password": PASSWORD}, "username"),
    ("/api/auth/token/", {"username": "alice", "password": "p" * 5000}, "password"),
])
def test_nul_characters_and_huge_fields_are_400_not_500(api, staff, path, body, field):
    response = api.post(path, body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
