"""``parse_webhook`` on generated input (no database): any field of a real notification
replaced by any JSON value never raises, and whatever it accepts fits the columns it goes into."""
from hypothesis import HealthCheck, given, settings

from conversations.models import Message
from customers.models import Customer
from integrations.instagram.parsing import IGEdit, IGMessage, IGRead, Ignored, _fetchable, parse_webhook
from integrations.models import InboundEvent
from tests.integrations.conftest import load_fixture
from tests.integrations.payload_mutations import column_max, json_values, mutated

FIXTURES = ["text.json", "image.json", "audio.json", "file.json", "share.json", "reply.json", "echo.json",
            "message_edit.json", "unsend.json", "read.json", "reaction.json"]
DOCUMENTS = [load_fixture("instagram", name, SIM="http://127.0.0.1:9", READ_MID="aWdfread", ECHO_MID="aWdfecho",
                          ECHO_TEXT="hi") for name in FIXTURES]
mutated_notifications = mutated(DOCUMENTS, json_values(["m" * 5000, "javascript:alert(1)", "http://xn--/a",
                                                        "http://127.0.0.1:99999/", "../me"]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_notifications)
def test_any_field_of_any_type_never_raises_and_what_is_accepted_fits_the_columns(payload):
    events = parse_webhook(payload)
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, (IGMessage, IGEdit, IGRead, Ignored))
        if isinstance(event, Ignored):
            event.reason.encode("utf-8")
            continue
        assert len(event.event_key) <= column_max(InboundEvent, "event_key")
        assert all(len(i) <= column_max(Message, "external_id") for i in event.external_ids)
        assert event.sender_id.isascii() and event.sender_id.isdigit()
        assert len(event.sender_id) <= column_max(Customer, "external_id")
        assert "\x00" not in event.mid
        if isinstance(event, (IGMessage, IGEdit)):
            assert isinstance(event.text, str) and "\x00" not in event.text
        if isinstance(event, IGMessage):
            assert event.customer_id.isascii() and event.customer_id.isdigit()
            for attachment in event.attachments:
                assert isinstance(attachment.kind, str) and isinstance(attachment.title, str)
                assert attachment.url == "" or _fetchable(attachment.url)
