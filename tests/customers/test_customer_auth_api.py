"""Web-chat customer accounts (seed 004): register and login by phone or email per workspace."""
import pytest
from rest_framework.test import APIClient

from customers.models import Customer, CustomerAccount
from fiko import realtime
from fiko.tokens import principal_from_access_token
from tests.fiko.token_helpers import claims

pytestmark = pytest.mark.django_db(transaction=True)  # customer.created goes out on commit

REGISTER = "/api/v1/customer-auth/register"
LOGIN = "/api/v1/customer-auth/login"
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "access", "refresh", "customer"}


@pytest.fixture
def api():
    return APIClient()


def register(api, **body):
    body = {"workspace": "acme", "first_name": "Jane", "password": "secret-pass", **body}
    return api.post(REGISTER, body, format="json")


def test_register_by_slug_with_email(api, workspace, listen):
    listener = listen([realtime.workspace_group(workspace.pk)])
    response = register(api, last_name="Roe", email="Jane@Example.com")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == TOKEN_KEYS and body["token_type"] == "bearer"
    assert body["access"] == body["access_token"] and body["refresh"] == body["refresh_token"]
    customer = Customer.objects.get()
    assert body["customer"] == {"id": customer.pk, "first_name": "Jane", "last_name": "Roe",
                                "email": "jane@example.com", "phone": ""}
    assert customer.source == "web" and customer.workspace_id == workspace.pk
    account = CustomerAccount.objects.get()
    assert account.customer_id == customer.pk and account.email == "jane@example.com"
    assert account.password != "secret-pass" and account.check_password("secret-pass")
    token = claims(body["access_token"])
    assert token["kind"] == "customer" and token["customer_id"] == customer.pk and "user_id" not in token
    principal = principal_from_access_token(body["access_token"])
    assert principal.kind == "customer" and principal.customer.pk == customer.pk
    events = [e for e in listener.drain() if e["type"] == realtime.CUSTOMER_CREATED]
    assert len(events) == 1 and events[0]["customer"]["id"] == customer.pk
    assert events[0]["customer"]["source"] == "web"


def test_register_by_id_with_phone_normalises_it(api, workspace):
    response = register(api, workspace=workspace.pk, phone="+98 912-000 (00) ۰۰")
    assert response.status_code == 201
    assert response.json()["customer"]["phone"] == "+989120000000"
    response = register(api, workspace=str(workspace.pk), phone="+989120000000")
    assert response.status_code == 400  # the same phone, written another way
    assert response.json() == {"detail": "An account with this phone already exists in this workspace",
                               "code": "invalid_input", "field": "phone"}


def test_duplicate_email_in_the_workspace_is_400_and_changes_nothing(api, workspace, listen):
    assert register(api, email="jane@example.com").status_code == 201
    listener = listen([realtime.workspace_group(workspace.pk)])
    response = register(api, email="JANE@example.com", first_name="Impostor")
    assert response.status_code == 400
    assert response.json()["detail"] == "An account with this email already exists in this workspace"
    assert Customer.objects.count() == 1 and CustomerAccount.objects.count() == 1
    assert listener.drain() == []


def test_same_email_in_another_workspace_is_another_account(api, workspace, other_workspace):
    assert register(api, email="jane@example.com", password="first-pass").status_code == 201
    assert register(api, workspace="rival", email="jane@example.com", password="second-pass").status_code == 201
    login = api.post(LOGIN, {"workspace": "rival", "email": "jane@example.com", "password": "first-pass"}, format="json")
    assert login.status_code == 401  # acme's password does not open rival's account


@pytest.mark.parametrize("body, status, detail", [
    ({"workspace": "nowhere", "email": "a@example.com"}, 404, "Workspace not found"),
    ({"workspace": 999999, "email": "a@example.com"}, 404, "Workspace not found"),
    ({"workspace": None, "email": "a@example.com"}, 400, "workspace (id or slug) is required"),
    ({"workspace": True, "email": "a@example.com"}, 400, "workspace (id or slug) is required"),
    ({"first_name": " ", "email": "a@example.com"}, 400, "first_name is required"),
    ({"first_name": 5, "email": "a@example.com"}, 400, "first_name must be a string"),
    ({}, 400, "phone or email is required"),
    ({"email": "not-an-email"}, 400, "email is not a valid email address"),
    ({"phone": "call me"}, 400, "phone must be 5 to 20 digits, optionally starting with +"),
    ({"email": "a@example.com", "password": "short"}, 400, "password must be 8 to 128 characters"),
    ({"email": "a@example.com", "password": None}, 400, "password is required"),
])
def test_bad_registration_is_refused_with_a_reason_and_stores_nothing(api, workspace, body, status, detail):
    response = register(api, **body)
    assert response.status_code == status
    assert response.json()["detail"] == detail
    assert Customer.objects.count() == 0 and CustomerAccount.objects.count() == 0


@pytest.mark.parametrize("login", [{"email": "jane@example.com"}, {"email": " JANE@example.com "},
                                   {"phone": "+1 555 0100"}, {"phone": "+15550100"}])
def test_login_by_email_or_phone(api, workspace, login):
    registered = register(api, email="jane@example.com", phone="+1-555-0100").json()
    response = api.post(LOGIN, {"workspace": "acme", **login, "password": "secret-pass"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == TOKEN_KEYS and body["customer"] == registered["customer"]
    assert claims(body["access"])["customer_id"] == registered["customer"]["id"]
    assert CustomerAccount.objects.get().last_login is not None


@pytest.mark.parametrize("body, status", [
    ({"email": "jane@example.com", "password": "wrong-pass"}, 401),
    ({"email": "other@example.com", "password": "secret-pass"}, 401),
    ({"phone": "+15550199", "password": "secret-pass"}, 401),
    ({"workspace": "rival", "email": "jane@example.com", "password": "secret-pass"}, 401),
    ({"workspace": "nowhere", "email": "jane@example.com", "password": "secret-pass"}, 404),
    ({"email": "jane@example.com"}, 400),
    ({"password": "secret-pass"}, 400),
])
def test_wrong_login_is_refused_with_a_reason(api, workspace, other_workspace, body, status):
    register(api, email="jane@example.com", phone="+15550100")
    response = api.post(LOGIN, {"workspace": "acme", **body}, format="json")
    assert response.status_code == status
    assert response.json()["detail"]
    assert "access" not in response.json()
    if status == 401:
        assert response.json()["code"] == "invalid_credentials"
        assert response.json()["detail"] in {"Invalid email or password", "Invalid phone or password"}


def test_customer_refresh_keeps_the_customer(api, workspace):
    body = register(api, email="jane@example.com").json()
    response = api.post("/api/v1/customer-auth/refresh", {"refresh": body["refresh_token"]}, format="json")
    assert response.status_code == 200
    assert claims(response.json()["access"])["customer_id"] == body["customer"]["id"]
    assert claims(response.json()["access"])["kind"] == "customer"


@pytest.mark.parametrize("path, body, field", [
    (LOGIN, {"workspace": "ac\x00me", "email": "jane@example.com", "password": "secret-pass"}, "workspace"),
    (LOGIN, {"workspace": "acme", "phone": "+1555\x000100", "password": "secret-pass"}, "phone"),
    (LOGIN, {"workspace": "acme", "email": "jane\x00@example.com", "password": "secret-pass"}, "email"),
    (REGISTER, {"workspace": "acme", "first_name": "Ja\x00ne", "email": "jane@example.com", "password": "secret-pass"},
     "first_name"),
    (REGISTER, {"workspace": "  ", "first_name": "Jane", "email": "jane@example.com", "password": "secret-pass"},
     "workspace"),
])
def test_nul_characters_are_400_not_500(api, workspace, path, body, field):
    response = api.post(path, body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert Customer.objects.count() == 0
