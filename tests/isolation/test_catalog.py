"""The isolation matrix knows every endpoint, socket route, frame key, filter, body field, event
type and table (tests/isolation/catalog.py): a new one fails here until it is classified."""
from tests.isolation import catalog
from tests.isolation.world import workspace_path_problems


def test_every_rest_endpoint_parameter_and_field_is_classified():
    problems = catalog.rest_problems()
    assert not problems, "\n".join(problems)


def test_every_socket_route_frame_key_and_filter_is_classified():
    problems = catalog.socket_problems()
    assert not problems, "\n".join(problems)


def test_every_event_type_has_a_producer():
    problems = catalog.event_problems()
    assert not problems, "\n".join(problems)


def test_every_table_can_be_told_to_belong_to_a_workspace():
    problems = workspace_path_problems()
    assert not problems, "\n".join(problems)


def test_the_catalog_sees_what_it_must():
    """The generators themselves work (an empty enumeration would make every check pass)."""
    endpoints = catalog.rest_endpoints()
    assert ("api/customers/{pk}/", "PATCH") in endpoints
    assert ("api/v1/chat/chats/{chat_id}/messages", "GET") in endpoints
    assert not any(t.startswith(("admin/", "integrations/", "uploads/")) for t, _ in endpoints)
    routes = dict(catalog.socket_routes())
    assert len(routes) >= 5 and "ws/chat/{conversation_id}/" in routes
    multiplexed = routes["api/v1/chat/ws/chat/user"]
    assert {"join_chat", "send_message", "read_message", "typing"} <= set(catalog.frame_types(multiplexed))
    assert catalog.frame_keys(multiplexed, "on_read_message") >= {"chat_id", "message_id"}
    assert "assignee" in catalog.query_params("api/conversations/", "GET")
    assert "tag_ids" in catalog.body_fields("api/customers/{pk}/", "PATCH")
