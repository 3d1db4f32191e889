"""``parse_update`` on generated input (no database): any field of a real update replaced by
any JSON value never raises, and whatever it accepts fits the columns it goes into."""
from hypothesis import HealthCheck, given, settings

from conversations.models import Message
from customers.models import Customer
from integrations.models import InboundEvent
from integrations.telegram.parsing import Ignored, TelegramMessage, parse_update
from tests.integrations.conftest import load_fixture
from tests.integrations.payload_mutations import column_max, json_values, mutated

FIXTURES = ["text.json", "photo.json", "voice.json", "video.json", "document.json", "sticker.json", "reply.json",
            "edited_message.json", "location.json", "group_message.json", "callback_query.json"]
mutated_updates = mutated([load_fixture("telegram", name) for name in FIXTURES], json_values())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_updates)
def test_any_field_of_any_type_never_raises_and_what_is_accepted_fits_the_columns(payload):
    result = parse_update(payload)
    assert isinstance(result, (TelegramMessage, Ignored))
    if isinstance(result, Ignored):
        result.reason.encode("utf-8")  # always renderable in the answer and the log
        return
    assert len(result.event_key) <= column_max(InboundEvent, "event_key")
    assert len(result.external_id) <= column_max(Message, "external_id")
    if result.reply_to_external_id is not None:
        assert len(result.reply_to_external_id) <= column_max(Message, "external_id")
    person = result.sender
    assert person.external_id.isascii() and person.external_id.isdigit()
    assert len(person.external_id) <= column_max(Customer, "external_id")
    for name in ("first_name", "last_name", "username"):
        value = getattr(person, name)
        assert isinstance(value, str) and "\x00" not in value and len(value) <= column_max(Customer, name)
    assert isinstance(result.text, str) and "\x00" not in result.text
    if result.file is not None:
        assert all(isinstance(v, str) and v and "\x00" not in v
                   for v in (result.file.file_id, result.file.file_unique_id))
        assert isinstance(result.file.file_name, str)
