"""The inbox console (/inbox/) in Chromium against a real Daphne, PostgreSQL and Redis: an agent
signs in, Telegram customers write through the platform simulator, and the agent sees and
answers them live, the way a person would."""
import pytest
from playwright.sync_api import expect

from conversations.services import message_receive
from integrations.platform_sim.images import tiny_png
from integrations.platform_sim.say import stable_number
from tests.factories import make_conversation, make_customer
from workspaces.demo import demo_seed

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def demo(services, transactional_db):
    """The `make run` demo workspace: staff demo/demo, eight customers (five Persian), seven
    conversations not archived, a Telegram channel."""
    return demo_seed()


def sign_in(browser, server, username="demo", password="demo"):
    page = browser.page
    page.goto(server.http_url("/inbox/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn")).to_have_text("live")
    page.evaluate("window.signedInWithoutReload = true")  # gone if the page ever reloads
    return page


def conversation_row(page, name):
    return page.locator(".conv", has_text=name)


def test_customer_writes_and_agent_answers_live(demo, server, browser, say, platform_sim):
    page = sign_in(browser, server)
    expect(page.locator(".conv")).to_have_count(7)

    say("Hello, is my order 5521 ready?", "Sam Tester")
    row = conversation_row(page, "Sam Tester")
    expect(row.locator(".badge")).to_have_text("1")  # a new conversation, live, unread
    expect(row.locator(".preview")).to_have_text("Hello, is my order 5521 ready?")
    expect(page.locator(".conv")).to_have_count(8)
    browser.screenshot("1-new-conversation")

    row.get_by_role("button").click()
    messages = page.locator("#message-list .msg")
    expect(messages.locator(".text")).to_have_text(["Hello, is my order 5521 ready?"])
    expect(row.locator(".badge")).to_have_count(0)  # opened: read, the unread badge clears

    say("And can you gift-wrap it?", "Sam Tester")  # arrives while the chat is open
    expect(messages.locator(".text")).to_have_text(["Hello, is my order 5521 ready?", "And can you gift-wrap it?"])
    expect(row.locator(".preview")).to_have_text("And can you gift-wrap it?")
    expect(row.locator(".badge")).to_have_count(0)

    # Answer the first message as a reply to it.
    messages.nth(0).get_by_role("button", name="Reply").click()
    expect(page.locator("#reply-text")).to_have_text("Replying to: Hello, is my order 5521 ready?")
    page.get_by_placeholder("Write a reply…").fill("Yes Sam, it ships today.")
    page.get_by_role("button", name="Send").click()
    answer = messages.nth(2)
    expect(answer).to_have_class("msg out")
    expect(answer.locator(".text")).to_have_text("Yes Sam, it ships today.")
    expect(answer.locator(".quote")).to_have_text("Hello, is my order 5521 ready?")
    expect(answer.locator(".status")).to_have_text("✓ sent to telegram")  # message_updated from delivery
    expect(row.locator(".preview")).to_have_text("You: Yes Sam, it ships today.")
    browser.screenshot("2-answered")

    sent = [entry for entry in platform_sim.sent_for("telegram") if entry.get("text") == "Yes Sam, it ships today."]
    assert [entry["chat_id"] for entry in sent] == [stable_number("Sam Tester", 9)]
    assert "reply_to_message_id" in sent[0]  # the reply went out as a Telegram reply
    assert page.evaluate("window.signedInWithoutReload") is True
    assert browser.errors == []


def test_a_failed_send_shows_its_reason_and_an_image_goes_out(demo, server, browser, say, platform_sim):
    page = sign_in(browser, server)
    say("Are you there?", "Blocked Bob")
    conversation_row(page, "Blocked Bob").get_by_role("button").click()
    expect(page.locator("#message-list .msg .text")).to_have_text(["Are you there?"])

    platform_sim.fail_next("blocked")  # Telegram answers 403: the customer blocked the bot
    page.get_by_placeholder("Write a reply…").fill("Hello Bob")
    page.keyboard.press("Enter")
    status = page.locator("#message-list .msg.out .status")
    expect(status).to_have_class("status failed")
    expect(status).to_contain_text("blocked by the user")
    browser.screenshot("failed-send")
    assert not [entry for entry in platform_sim.sent_for("telegram") if entry.get("text") == "Hello Bob"]

    # An image: uploaded over REST, then sent on the chat socket with its media_url.
    page.locator("#file").set_input_files(files=[{"name": "photo.png", "mimeType": "image/png",
                                                   "buffer": tiny_png(size=48)}])
    expect(page.locator("#attach-text")).to_have_text("Image: photo.png")
    page.get_by_role("button", name="Send").click()
    image = page.locator("#message-list .msg.out").nth(1)
    expect(image.locator("img")).to_be_visible()
    expect(image.locator(".status")).to_have_text("✓ sent to telegram")
    assert image.locator("img").evaluate("img => img.naturalWidth") > 0  # served from /uploads/
    photos = [entry for entry in platform_sim.sent_for("telegram") if entry["method"] == "sendPhoto"]
    assert [entry["chat_id"] for entry in photos] == [stable_number("Blocked Bob", 9)]


def test_customer_markup_is_shown_as_text(demo, server, browser, say):
    page = sign_in(browser, server)
    say(HOSTILE, "Eve Hacker")
    row = conversation_row(page, "Eve Hacker")
    expect(row.locator(".preview")).to_have_text(HOSTILE)
    row.get_by_role("button").click()
    text = page.locator("#message-list .msg .text")
    expect(text).to_have_text(HOSTILE)
    expect(text).to_be_visible()
    browser.screenshot("markup-as-text")
    assert page.locator("img[src='x']").count() == 0  # no element was made from it
    assert browser.dialogs == []  # and nothing ran (onerror would have called alert)
    assert browser.errors == []


def test_reconnect_catches_up_without_showing_a_message_twice(demo, server, browser, say):
    page = sign_in(browser, server)
    say("First message", "Carl Catchup")
    conversation_row(page, "Carl Catchup").get_by_role("button").click()
    texts = page.locator("#message-list .msg .text")
    expect(texts).to_have_text(["First message"])

    # The chat socket drops and stays down while the customer writes twice.
    page.evaluate("() => { const s = window.fikoConsole.chat.socket; s.stopped = true; s.ws.close(); }")
    expect(page.locator("#chat-conn")).not_to_have_text("live")
    say("Written while you were away", "Carl Catchup")
    say("Still there?", "Carl Catchup")
    expect(texts).to_have_text(["First message"])

    page.evaluate("() => { const s = window.fikoConsole.chat.socket; s.stopped = false; s.connect(); }")
    expect(page.locator("#chat-conn")).to_have_text("live")
    expect(texts).to_have_text(["First message", "Written while you were away", "Still there?"])
    seqs = page.locator("#message-list .msg").evaluate_all("items => items.map(li => Number(li.dataset.seq))")
    assert seqs == [1, 2, 3]


@pytest.fixture
def long_history(demo):
    """A web-chat conversation with 120 customer messages (the chat shows the last 50 first)."""
    customer = make_customer(demo.workspace, first_name="Hana", last_name="History", source="web")
    conversation = make_conversation(demo.workspace, customer)
    for n in range(1, 121):
        message_receive(conversation=conversation, customer=customer, content=f"line {n}")
    return conversation


def test_scrolling_up_loads_the_older_history(long_history, server, browser):
    page = sign_in(browser, server)
    conversation_row(page, "Hana History").get_by_role("button").click()
    items = page.locator("#message-list .msg")
    expect(items).to_have_count(50)
    expect(items.last.locator(".text")).to_have_text("line 120")
    scroller = page.locator("#messages")
    scroller.evaluate("element => { element.scrollTop = 0; }")
    expect(items).to_have_count(100)
    scroller.evaluate("element => { element.scrollTop = 0; }")
    expect(items).to_have_count(120)
    expect(page.locator("#older")).to_be_hidden()  # has_more: false
    seqs = items.evaluate_all("items => items.map(li => Number(li.dataset.seq))")
    assert seqs == list(range(1, 121))
    expect(items.first.locator(".text")).to_have_text("line 1")


def test_persian_reads_right_to_left_at_laptop_and_phone_widths(demo, server, browser):
    page = sign_in(browser, server)
    conversation_row(page, "علی رضایی").get_by_role("button").click()
    first = page.locator("#message-list .msg .text").first
    expect(first).to_have_text("سلام، سفارش ۱۲۳۴۵ من هنوز نرسیده")
    assert first.evaluate("element => getComputedStyle(element).direction") == "rtl"
    expect(page.locator("#d-name")).to_have_text("علی رضایی")
    expect(page.locator("#chat-presence")).to_have_text("")
    browser.screenshot("persian-laptop")

    page.set_viewport_size({"width": 390, "height": 800})  # a phone: one pane at a time
    expect(page.locator(".chat-pane")).to_be_visible()
    expect(page.locator(".list-pane")).to_be_hidden()
    page.get_by_role("button", name="Back to the list").click()
    expect(page.locator(".list-pane")).to_be_visible()
    expect(page.locator(".chat-pane")).to_be_hidden()
    browser.screenshot("persian-phone-list")


def test_conversation_and_customer_filters(demo, server, browser):
    page = sign_in(browser, server)
    rows = page.locator("#conv-list .conv")
    expect(rows).to_have_count(7)
    page.get_by_label("Unread only").check()
    expect(rows).to_have_count(4)  # the demo's unread conversations
    page.get_by_label("Unread only").uncheck()
    page.locator("#conv-filters select[name=status]").select_option("pending")
    expect(rows).to_have_count(2)
    page.locator("#conv-filters select[name=status]").select_option("")
    page.get_by_placeholder("Search conversations").fill("سفارش")  # Persian, in message content
    expect(rows).to_have_count(2)
    page.get_by_placeholder("Search conversations").fill("")
    page.locator("#conv-filters .tagpick", has_text="VIP").locator("input").check()
    expect(rows).to_have_count(2)
    page.get_by_label("Archived").check()
    expect(rows).to_have_count(0)

    page.locator(".tab[data-view=customers]").click()
    rows = page.locator("#cust-rows tr")
    expect(rows).to_have_count(8)
    expect(page.locator("#cust-count")).to_have_text("8 customers")
    filters = page.locator("#cust-filters")
    filters.locator("select[name=source]").select_option("instagram")
    expect(rows).to_have_count(3)
    filters.locator(".tagpick", has_text="VIP").locator("input").check()  # tags come from filter_options
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("سارا کریمی")
    filters.locator("select[name=source]").select_option("all")
    filters.locator("select[name=has_phone]").select_option("true")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("علی رضایی")
    browser.screenshot("customers-filtered")
