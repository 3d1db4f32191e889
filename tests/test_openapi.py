"""The OpenAPI schema (/api/schema/, docs at /docs): it generates without warnings, describes
the seed 004 endpoints accurately, and a schemathesis run over every operation in it finds no
server error (5xx)."""
import itertools

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.core.management import call_command
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from conversations.services import message_receive, message_send
from fiko.tokens import customer_tokens_for, staff_tokens_for
from tests.factories import make_conversation, make_customer

EXAMPLES_PER_OPERATION = 25


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn: an endpoint whose shapes drf-spectacular cannot work out fails here.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


@pytest.mark.django_db
def test_schema_and_docs_are_served():
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    spec = schema.json()
    paths = spec["paths"]
    assert paths["/api/v1/chat/chats"]["get"]["security"] == [{"staffJWT": []}, {"cookieAuth": []}]
    assert paths["/api/v1/chat/chats/customer"]["post"]["security"] == [{"customerJWT": []}]
    assert paths["/api/v1/chat/chats/{chat_id}/messages"]["get"]["security"] == [{"staffOrCustomerJWT": []}]
    upload = paths["/api/v1/chat/upload"]["post"]
    assert set(upload["requestBody"]["content"]) == {"multipart/form-data"}
    assert {"201", "413", "415"} <= set(upload["responses"])
    chat = spec["components"]["schemas"]["Chat"]["properties"]
    assert {"participants", "online_participants", "unread_count", "salon_id", "chat_type"} <= set(chat)
    assert spec["components"]["securitySchemes"]["customerJWT"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "Customer access token (POST /api/v1/customer-auth/login or /register)."}
    assert client.get("/docs").status_code == 200


# --- schemathesis over the whole schema ---------------------------------------------------------------
# Loaded at collection (the lazy ``schemathesis.pytest.from_fixture`` loader needs a pytest
# private attribute that pytest 9 no longer has). Fetching the schema touches no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())


@pytest.fixture
def wsgi_in_test_transaction(db):
    """Generated requests run through the WSGI handler in this thread, so they see the test's
    transaction. Like Django's test client, keep the request signals from closing it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(wsgi_in_test_transaction, workspace, staff, customer):
    """Real data for the generated requests to hit (ids 1.. exist), and a token of each kind."""
    chat = make_conversation(workspace, customer)
    message_receive(conversation=chat, customer=customer, content="hello")
    message_send(conversation=chat, user=staff, content="hi, how can I help?")
    make_customer(workspace, source="web", first_name="Web")
    return {"staff": staff_tokens_for(staff)["access"], "customer": customer_tokens_for(customer)["access"],
            "ids": {"chat_id": chat.pk, "conversation_id": chat.pk, "customer_id": customer.pk, "user_id": staff.pk}}


_turn = itertools.count()


def _aim_at_real_rows(case, tokens) -> None:
    """Generated ids almost never exist, so every other case gets the id of a real row
    instead: the code past the lookup is exercised too."""
    if next(_turn) % 2:
        return
    ids = tokens["ids"]
    for params in (case.path_parameters, case.body if isinstance(case.body, dict) else None):
        for name in list(params or {}):
            if name in ids:
                params[name] = ids[name]


def _token_for(case, tokens) -> str:
    security = case.operation.definition.raw.get("security") or []
    names = {name for requirement in security for name in requirement}
    return tokens["customer"] if names == {"customerJWT"} else tokens["staff"]


_settings = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)


@schema.parametrize()
@_settings
def test_no_server_errors_anywhere(case, tokens):
    _aim_at_real_rows(case, tokens)
    case.call_and_validate(headers={"Authorization": f"Bearer {_token_for(case, tokens)}"},
                           checks=[not_a_server_error])


@schema.include(path_regex=r"^/api/v1/chat/").parametrize()
@_settings
def test_chat_endpoints_answer_as_documented(case, tokens):
    """For the seed 004 endpoints the schema is exact: documented status codes, content types
    and response bodies."""
    _aim_at_real_rows(case, tokens)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_token_for(case, tokens)}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
