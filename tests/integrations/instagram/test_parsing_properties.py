"""``parse_webhook`` on generated input (no database): any field of a real notification
replaced by any JSON value never raises, and whatever it accepts fits the columns it goes into."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.models import Message
from customers.models import Customer
from integrations.instagram.parsing import IGEdit, IGMessage, IGRead, Ignored, _fetchable, parse_webhook
from integrations.models import InboundEvent
from tests.integrations.conftest import load_fixture

FIXTURES = ["text.json", "image.json", "audio.json", "file.json", "share.json", "reply.json", "echo.json",
            "message_edit.json", "unsend.json", "read.json", "reaction.json"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=300) | st.sampled_from(["\x00", "a\x00b", "9" * 200, "m" * 5000, "javascript:alert(1)",
                                                "http://xn--/a", "http://127.0.0.1:99999/", "../me"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def paths(value, prefix=()):
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
def mutated_notifications(draw):
    document = load_fixture("instagram", draw(st.sampled_from(FIXTURES)),
                            SIM="http://127.0.0.1:9", READ_MID="aWdfread", ECHO_MID="aWdfecho", ECHO_TEXT="hi")
    path = draw(st.sampled_from(list(paths(document))))
    return replaced(document, path, draw(json_values))


def column_max(model, name):
    return model._meta.get_field(name).max_length


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_notifications())
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
