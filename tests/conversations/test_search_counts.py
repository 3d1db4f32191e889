"""The count of a conversation search with a common word (counted on the conversations' own
columns: messages, title, customer) is exact up to the cap and the cap with count_capped past
it, whichever of them each conversation matches by."""
import pytest

from conversations import filters as conversation_filters
from conversations.consumers import conversations_list_frame
from conversations.services import message_receive
from tests.factories import make_conversation, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def matches(workspace, monkeypatch):
    monkeypatch.setattr(conversation_filters, "SEARCH_PROBE", 1)  # every word with 2+ matches is "common"
    kazemi = make_customer(workspace, first_name="Reza", last_name="Kazemi")
    other = make_customer(workspace, first_name="Sara", last_name="Nik")
    rows = [
        (kazemi, "", "hello"),  # by the customer only
        (other, "", "ask kazemi about it"),  # by a message only
        (kazemi, "", "Kazemi here"),  # by both
        (other, "Kazemi order", "hi"),  # by the title only
        (other, "", "nothing"),  # no match
    ]
    for customer, title, text in rows:
        conversation = make_conversation(workspace, customer, title=title)
        message_receive(conversation=conversation, customer=customer, content=text)


@pytest.mark.parametrize("cap, count, capped", [(10_000, 4, False), (4, 4, False), (3, 3, True), (1, 1, True)])
def test_common_word_count_is_exact_up_to_the_cap(staff, matches, settings, cap, count, capped):
    settings.LIST_COUNT_CAP = cap
    frame = conversations_list_frame(user=staff, filters={"search": "kazemi", "page_size": 1})
    assert len(frame["conversations"]) == 1 and frame["pagination"]["has_more"]
    assert (frame["count"], frame["pagination"]["count_capped"]) == (count, capped)
    both = conversations_list_frame(user=staff, filters={"search": "kazemi hello", "page_size": 1})
    assert both["count"] == 1
