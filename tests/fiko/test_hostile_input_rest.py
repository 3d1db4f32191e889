"""Hostile input on REST (issue 8, items 2-5, 8, 9): every case is a 4xx with a JSON reason and
a code, nothing is stored or changed, and nothing is logged as an error. The raw bodies are
written by hand where JSON libraries would refuse to produce them (deep nesting, lone
surrogates as ``\\ud800`` escapes)."""
import logging

import pytest
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from customers.models import Customer, CustomerAccount, Tag
from tests.sockets import staff_token

pytestmark = pytest.mark.django_db

DEEP = "[" * 1000 + "]" * 1000
DEEP_33 = '{"username": ' + "[" * 33 + "]" * 33 + "}"
SURROGATE = '"\\ud800"'


@pytest.fixture
def api(staff):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token(staff)}")
    return client


@pytest.fixture
def no_error_logs(caplog):
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


def raw(client, method, path, body: str):
    return getattr(client, method)(path, data=body.encode("utf-8"), content_type="application/json")


def assert_json_4xx(response, status, code=None):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["detail"]
    if code:
        assert body["code"] == code
    return body


JSON_BODY_ENDPOINTS = [
    ("post", "/api/auth/token/"),
    ("post", "/api/auth/token/refresh/"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/customer-auth/register"),
    ("post", "/api/v1/customer-auth/login"),
    ("post", "/api/tags/"),
    ("post", "/api/v1/chat/chats"),
]


@pytest.mark.parametrize("method,path", JSON_BODY_ENDPOINTS)
@pytest.mark.parametrize("body,reason", [
    (DEEP, "nested deeper than 32 levels"),
    (DEEP_33, "nested deeper than 32 levels"),
    ('{"username": ' + SURROGATE + ', "password": "x"}', "lone UTF-16 surrogates are not allowed"),
    ('{' + SURROGATE + ': 1}', "lone UTF-16 surrogates are not allowed"),
    ('{"name": "a\\u0000b"}', "NUL characters are not allowed"),
])
def test_hostile_json_bodies_are_400_invalid_json(api, method, path, body, reason, no_error_logs):
    before = (Tag.objects.count(), Customer.objects.count(), CustomerAccount.objects.count(), Conversation.objects.count())
    response = raw(api, method, path, body)
    payload = assert_json_4xx(response, 400, "invalid_json")
    assert payload["reason"] == reason
    assert (Tag.objects.count(), Customer.objects.count(), CustomerAccount.objects.count(),
            Conversation.objects.count()) == before


def test_nesting_of_32_levels_is_still_json(api, conversation, no_error_logs):
    """The bound is 32 levels: a body at the bound is parsed (and then judged on its fields)."""
    body = '{"status": ' + "[" * 31 + "]" * 31 + "}"  # object + 31 lists = 32 levels
    response = raw(api, "patch", f"/api/conversations/{conversation.pk}/", body)
    assert_json_4xx(response, 400, "invalid_input")


@pytest.mark.parametrize("field", ["status", "priority", "assignee", "is_archived"])
def test_surrogate_values_on_conversation_patch_are_400_and_change_nothing(api, conversation, field, no_error_logs):
    response = raw(api, "patch", f"/api/conversations/{conversation.pk}/", '{"' + field + '": ' + SURROGATE + "}")
    assert_json_4xx(response, 400, "invalid_json")
    fresh = Conversation.objects.get(pk=conversation.pk)
    assert (fresh.status, fresh.priority, fresh.assignee_id, fresh.is_archived) == (
        conversation.status, conversation.priority, conversation.assignee_id, conversation.is_archived)


@pytest.mark.parametrize("digits", ["²", "١", "１", "+1", " 1", "1_0", "1.0", "9223372036854775808"])
def test_priority_and_assignee_take_ascii_digits_only(api, conversation, staff, digits, no_error_logs):
    if digits != " 1":  # a priority is a label (trimmed, like "high "); an id never is
        response = api.patch(f"/api/conversations/{conversation.pk}/", {"priority": digits}, format="json")
        assert_json_4xx(response, 400, "invalid_input")
    response = api.patch(f"/api/conversations/{conversation.pk}/", {"assignee": digits}, format="json")
    assert_json_4xx(response, 400, "invalid_input")
    fresh = Conversation.objects.get(pk=conversation.pk)
    assert (fresh.priority, fresh.assignee_id) == (conversation.priority, conversation.assignee_id)
    for name in ("priority", "assignee") if digits != " 1" else ("assignee",):
        response = api.get("/api/conversations/", {name: digits})
        assert_json_4xx(response, 400, "invalid_filter")


@pytest.mark.parametrize("segment", ["%D9%A1", "%EF%BC%91", "%C2%B2", "+1", "%201", "1_0", "01x", "9223372036854775808"])
def test_unicode_and_signed_ids_name_no_object(api, workspace, segment, no_error_logs):
    """``/api/tags/١/`` once deleted tag 1: an id is ASCII digits, anything else is not found."""
    tags = [Tag.objects.create(workspace=workspace, name=f"t{i}") for i in range(2)]
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(f"/api/tags/{segment}/", {"name": "renamed"} if method == "patch" else None,
                                        format="json")
        assert_json_4xx(response, 404)
    assert sorted(Tag.objects.values_list("name", flat=True)) == [t.name for t in tags]
    for path in (f"/api/customers/{segment}/", f"/api/conversations/{segment}/",
                 f"/api/conversations/{segment}/messages/", f"/api/v1/chat/chats/{segment}/messages"):
        assert_json_4xx(api.get(path), 404)


@pytest.mark.parametrize("workspace_ref", ["²", "١", "+1", "9223372036854775808"])
def test_customer_auth_workspace_of_unicode_digits_is_not_found(workspace, workspace_ref, no_error_logs):
    client = APIClient()
    register = client.post("/api/v1/customer-auth/register", {
        "workspace": workspace_ref, "first_name": "Eve", "email": "eve@example.com", "password": "pw-123456"},
        format="json")
    assert register.status_code in (400, 404), register.content
    login = client.post("/api/v1/customer-auth/login", {
        "workspace": workspace_ref, "email": "eve@example.com", "password": "pw-123456"}, format="json")
    assert login.status_code in (400, 401, 404), login.content
    assert not CustomerAccount.objects.exists()


@pytest.mark.parametrize("path", ["/api/customers/", "/api/conversations/", "/api/tags/"])
@pytest.mark.parametrize("params", [
    {"offset": "9223372036854775808"}, {"offset": "9223372036854775807"}, {"page": "9223372036854775807"},
    {"page_size": "²"}, {"limit": "١"}, {"limit": "-1"}, {"page": "1.5"},
])
def test_out_of_range_paging_is_invalid_filter(api, path, params, no_error_logs):
    assert_json_4xx(api.get(path, params), 400, "invalid_filter")


DATE_FILTERS = [("/api/customers/", name) for name in ("date_from", "date_to", "last_activity_from", "last_activity_to")]
DATE_FILTERS += [("/api/conversations/", name) for name in ("date_from", "date_to")]


@pytest.mark.parametrize("path,name", DATE_FILTERS)
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "2024-13-45",
                                   "10000-01-01", "2024-01-01T00:00:00+24:00"])
def test_dates_out_of_range_are_invalid_filter(api, path, name, value, no_error_logs):
    response = api.get(path, {name: value})
    body = assert_json_4xx(response, 400, "invalid_filter")
    assert body["field"] == name


@pytest.mark.parametrize("path", ["/api/customers/", "/api/conversations/"])
def test_last_day_of_the_calendar_is_a_valid_bound(api, customer, conversation, path, no_error_logs):
    response = api.get(path, {"date_to": "9999-12-31", "date_from": "0001-01-01"})
    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.parametrize("path", ["/api/customers/", "/api/conversations/", "/api/tags/", "/api/v1/chat/chats"])
@pytest.mark.parametrize("query", ["tags=%00", "search=a%00b", "%00=1", "is_archived=%00"])
def test_nul_in_a_query_string_is_400(api, path, query, no_error_logs):
    response = api.get(f"{path}?{query}")
    assert_json_4xx(response, 400, "invalid_input")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "//evil.example/x.png",
                                 "/uploads/../admin/", "vbscript:msgbox(1)", "http://a b/"])
def test_staff_media_url_must_be_ours_or_http(api, conversation, url, no_error_logs):
    response = api.post(f"/api/conversations/{conversation.pk}/messages/",
                        {"content": "x", "message_type": "file", "media_url": url}, format="json")
    body = assert_json_4xx(response, 400, "invalid_input")
    assert "media_url" in body["detail"]
    assert not Message.objects.filter(conversation=conversation).exists()


def test_staff_may_link_an_http_file_or_one_of_ours(api, conversation, no_error_logs):
    for url in ("https://shop.example/p/1.png", "/uploads/chat/1.000_abcdef12_x.png"):
        response = api.post(f"/api/conversations/{conversation.pk}/messages/",
                            {"content": "x", "message_type": "image", "media_url": url}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["media_url"] == url


def test_json_body_over_the_limit_is_a_json_413_without_traceback(api, settings, caplog):
    caplog.set_level(logging.WARNING)
    body = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    response = raw(api, "post", "/api/tags/", body)
    payload = assert_json_4xx(response, 413, "too_large")
    assert payload["limit"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert not Tag.objects.exists()
    assert not [r for r in caplog.records if r.exc_info or "RequestDataTooBig" in r.getMessage()]
