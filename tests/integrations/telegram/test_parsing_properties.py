"""``parse_update`` on generated input (no database): any field of a real update replaced by
any JSON value never raises, and whatever it accepts fits the columns it goes into."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import Message
from customers.models import Customer
from integrations.models import InboundEvent
from integrations.telegram.parsing import Ignored, TelegramMessage, parse_update
from tests.integrations.conftest import load_fixture

FIXTURES = ["text.json", "photo.json", "voice.json", "video.json", "document.json", "sticker.json", "reply.json",
            "edited_message.json", "location.json", "group_message.json", "callback_query.json"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=300) | st.sampled_from(["\x00", "a\x00b", "9" * 200, "x" * 5000]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def paths(value, prefix=()):
    """Every (path, value) in a JSON document, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def replaced(document, path, value):
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


@st.composite
def mutated_updates(draw):
    document = load_fixture("telegram", draw(st.sampled_from(FIXTURES)))
    path = draw(st.sampled_from(list(paths(document))))
    return replaced(document, path, draw(json_values))


def column_max(model, name):
    return model._meta.get_field(name).max_length


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_updates())
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
