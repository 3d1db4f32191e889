"""The demo workspace behind ``make run`` (``python manage.py seed_demo``).

Everything is written through the services the app itself uses, so sequence numbers, unread
counters, read markers and last messages are exactly what real traffic would leave. Each
piece is looked up before it is created: running the seed again creates nothing new.
Times are then moved into the past (a few hours to a few days) so the demo inbox looks lived
in; only timestamps are touched, never counters.
"""
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from conversations import delivery_state
from conversations.models import Conversation, Message, ReadMarker, Status
from conversations.services import (
    conversation_create, conversation_get_or_open_for_channel, conversation_mark_read, conversation_update,
    message_receive, message_send,
)
from customers.accounts import customer_register
from customers.models import Customer, Tag
from customers.services import customer_update, customer_upsert_from_platform
from integrations.models import Channel
from workspaces.models import Membership, Workspace
from workspaces.services import membership_ensure, staff_user_ensure, workspace_create

DEMO_SLUG = "demo"
DEMO_USER = ("demo", "demo")
DEMO_AGENT = ("agent", "agent")
DEMO_CUSTOMER_PASSWORD = "customer"  # web-chat login of the demo's web customers



@dataclass(frozen=True)
class DemoLogin:
    who: str
    login: str
    password: str
    note: str


def demo_logins() -> list[DemoLogin]:
    """The logins the demo seed creates: what the `make run` banner and the landing page show."""
    web = next(spec for spec in CONVERSATIONS if spec.source == "web")
    return [
        DemoLogin("staff (owner)", *DEMO_USER, "the inbox console and the admin"),
        DemoLogin("second agent", *DEMO_AGENT, "the inbox console"),
        DemoLogin("web-chat customer", web.email, DEMO_CUSTOMER_PASSWORD, f"workspace '{DEMO_SLUG}'"),
    ]


TAGS = {"VIP": "#f59e0b", "Support": "#3b82f6", "Premium": "#8b5cf6", "New": "#10b981", "Wholesale": "#ef4444"}

# Obviously fake platform credentials: enough for webhooks to be tried with curl locally.
CHANNELS = {
    "telegram": {"name": "Demo Telegram bot", "bot_token": "000000000:demo-not-a-real-bot-token",
                 "webhook_secret": "demo-telegram-webhook-secret"},
    "instagram": {"name": "Demo Instagram account", "ig_id": "17841400000000000", "page_id": "100000000000000",
                  "access_token": "demo-not-a-real-access-token", "app_secret": "demo-app-secret",
                  "verify_token": "demo-verify-token"},
}


@dataclass
class DemoConversation:
    """One customer and their conversation. ``lines`` are (who, text): "c" customer, "s" staff.
    ``staff_read``/``customer_read``: how many leading messages each side has read."""

    source: str
    first_name: str
    last_name: str = ""
    username: str = ""
    external_id: str = ""
    email: str = ""
    phone: str = ""
    tags: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    status: str = Status.OPEN
    priority: int = 1
    assignee: str | None = None  # "demo" or "agent"
    archived: bool = False
    staff_read: int = 0
    customer_read: int = 0
    hours_ago: float = 1.0


CONVERSATIONS = [
    DemoConversation(
        "telegram", "علی", "رضایی", username="ali_rezaei", external_id="100000001", phone="+989121234567",
        tags=["VIP", "Support"], priority=2, assignee="agent", staff_read=2, customer_read=2, hours_ago=0.5,
        lines=[("c", "سلام، سفارش ۱۲۳۴۵ من هنوز نرسیده"),
               ("s", "سلام علی جان، الان پیگیری می‌کنم. لطفاً چند دقیقه صبر کنید."),
               ("c", "ممنون، منتظرم 🙏")],
    ),
    DemoConversation(
        "telegram", "John", "Smith", username="johnsmith", external_id="100000002", email="john.smith@example.com",
        tags=["Premium"], status=Status.PENDING, staff_read=3, customer_read=3, hours_ago=5,
        lines=[("c", "Hi! Do you ship to Germany?"),
               ("s", "Hello John, yes: delivery to Germany takes 5-7 working days."),
               ("c", "Great. What does shipping cost for two items?"),
               ("s", "It is 12 EUR for up to three items. Shall I prepare an order?")],
    ),
    DemoConversation(
        "telegram", "مریم", "احمدی", username="maryam_ahmadi", external_id="100000003", tags=["New"],
        priority=3, hours_ago=0.2,
        lines=[("c", "سلام، پرداختم انجام شد ولی سفارش ثبت نشد!"),
               ("c", "لطفاً سریع‌تر جواب بدید")],
    ),
    DemoConversation(
        "instagram", "سارا", "کریمی", username="sara.karimi", external_id="6500000000000001", tags=["VIP"],
        assignee="demo", staff_read=1, customer_read=2, hours_ago=2,
        lines=[("c", "سلام، این مانتو سایز M موجود داره؟"),
               ("s", "سلام سارا جان، بله موجوده. رنگ مشکی و سرمه‌ای داریم."),
               ("c", "عالیه، مشکی رو می‌خوام")],
    ),
    DemoConversation(
        "instagram", "Emma", "Johnson", username="emma.j", external_id="6500000000000002", tags=["Support"],
        status=Status.CLOSED, priority=0, staff_read=4, customer_read=4, hours_ago=30,
        lines=[("c", "My order arrived damaged :("),
               ("s", "So sorry, Emma! We will send a replacement today."),
               ("c", "Thank you, that was fast."),
               ("s", "You're welcome. Have a lovely day!")],
    ),
    DemoConversation(
        "instagram", "رضا", "محمدی", username="reza.mohammadi", external_id="6500000000000003",
        status=Status.CLOSED, priority=0, archived=True, staff_read=2, customer_read=2, hours_ago=96,
        lines=[("c", "ساعت کاری فروشگاه تا چنده؟"), ("s", "سلام، هر روز از ۹ صبح تا ۹ شب در خدمتیم.")],
    ),
    DemoConversation(
        "web", "David", "Brown", email="david.brown@example.com", phone="+14155550123", tags=["Premium", "Wholesale"],
        priority=2, staff_read=1, customer_read=2, hours_ago=8,
        lines=[("c", "Hello, I'd like a quote for 200 units of the ceramic mug."),
               ("s", "Hi David, for 200 units the price is 6.40 USD each. Want me to reserve them?"),
               ("c", "Yes please, and can you add our logo?")],
    ),
    DemoConversation(
        "web", "نگار", "حسینی", email="negar.hosseini@example.com", tags=["New"], status=Status.PENDING,
        staff_read=2, customer_read=0, hours_ago=20,
        lines=[("c", "سلام، برای رزرو وقت مشاوره چه کار باید بکنم؟"),
               ("c", "فردا عصر وقت خالی دارید؟"),
               ("s", "سلام نگار جان، فردا ساعت ۱۷ خالیه. براتون رزرو کنم؟")],
    ),
]


@dataclass
class SeedReport:
    workspace: Workspace
    created: list = field(default_factory=list)

    def note(self, what: str) -> None:
        self.created.append(what)


@transaction.atomic
def demo_seed() -> SeedReport:
    """Create what is missing of the demo workspace; returns what was created."""
    owner, owner_new = staff_user_ensure(username=DEMO_USER[0], password=DEMO_USER[1],
                                         first_name="Demo", last_name="Owner", email="demo@example.com")
    if not (owner.is_staff and owner.is_superuser):  # the demo owner may also use /admin/
        owner.is_staff = owner.is_superuser = True
        owner.save(update_fields=["is_staff", "is_superuser"])
    agent, agent_new = staff_user_ensure(username=DEMO_AGENT[0], password=DEMO_AGENT[1],
                                         first_name="Support", last_name="Agent", email="agent@example.com")
    workspace = Workspace.objects.filter(slug=DEMO_SLUG).first()
    ws_new = workspace is None
    if ws_new:
        workspace = workspace_create(slug=DEMO_SLUG, owner=owner, name="Demo Shop")
    report = SeedReport(workspace)
    for new, what in ((owner_new, "user demo"), (agent_new, "user agent"), (ws_new, "workspace demo")):
        if new:
            report.note(what)
    membership_ensure(workspace=workspace, user=owner, role=Membership.Role.OWNER)
    membership_ensure(workspace=workspace, user=agent, role=Membership.Role.AGENT)
    staff = {"demo": owner, "agent": agent}

    tags = {}
    for name, color in TAGS.items():
        tags[name], new = Tag.objects.get_or_create(workspace=workspace, name=name, defaults={"color": color})
        if new:
            report.note(f"tag {name}")
    channels = {}
    for platform, fields in CHANNELS.items():
        channels[platform], new = Channel.objects.get_or_create(
            workspace=workspace, platform=platform, name=fields["name"], defaults=fields)
        if new:
            report.note(f"{platform} channel")

    for spec in CONVERSATIONS:
        customer = _customer_ensure(workspace, spec, tags, report)
        if not Conversation.objects.filter(customer=customer).exists():
            _conversation_seed(workspace, customer, channels.get(spec.source), spec, staff)
            report.note(f"conversation with {customer.display_name}")
    return report


def _customer_ensure(workspace, spec: DemoConversation, tags: dict, report: SeedReport) -> Customer:
    if spec.source == "web":
        customer = Customer.objects.filter(workspace=workspace, source="web", email=spec.email).first()
        if customer is None:
            # a web-chat sign-up (seed 004): the customer can log in with email + the demo password
            customer = customer_register(workspace=workspace.pk, first_name=spec.first_name, last_name=spec.last_name,
                                         email=spec.email, phone=spec.phone, password=DEMO_CUSTOMER_PASSWORD)
            report.note(f"customer {customer.display_name}")
            customer_update(customer=customer, data={"tag_ids": [tags[name].pk for name in spec.tags]})
        return customer
    customer, new = customer_upsert_from_platform(
        workspace=workspace, source=spec.source, external_id=spec.external_id,
        first_name=spec.first_name, last_name=spec.last_name, username=spec.username,
    )
    if new:
        report.note(f"customer {customer.display_name}")
        data = {"tag_ids": [tags[name].pk for name in spec.tags]}
        data.update({key: getattr(spec, key) for key in ("email", "phone") if getattr(spec, key)})
        customer_update(customer=customer, data=data)
    return customer


def _conversation_seed(workspace, customer, channel, spec: DemoConversation, staff: dict) -> None:
    if channel is not None:
        conversation, _ = conversation_get_or_open_for_channel(customer=customer, channel=channel)
    else:
        conversation = conversation_create(workspace=workspace, customer=customer)
    for number, (who, text) in enumerate(spec.lines, start=1):
        if who == "c":
            message_receive(
                conversation=conversation, customer=customer, content=text, channel=channel,
                external_id=f"demo-{customer.external_id}-{number}" if channel is not None else "",
            )
        else:
            message_send(conversation=conversation, user=staff["demo"], content=text)
    if spec.staff_read:
        conversation_mark_read(conversation=conversation, reader_type=ReadMarker.ReaderType.USER,
                               reader_id=staff["demo"].pk, up_to_message_id=_message_id(conversation, spec.staff_read))
    if spec.customer_read:
        conversation_mark_read(conversation=conversation, reader_type=ReadMarker.ReaderType.CUSTOMER,
                               reader_id=customer.pk, up_to_message_id=_message_id(conversation, spec.customer_read))
    changes = {"status": spec.status, "priority": spec.priority, "is_archived": spec.archived}
    if spec.assignee:
        changes["assignee"] = staff[spec.assignee].pk
    conversation_update(conversation=Conversation.objects.get(pk=conversation.pk), data=changes)
    _history_settle(conversation, channel, hours_ago=spec.hours_ago)


def _message_id(conversation, seq: int) -> int:
    return Message.objects.get(conversation=conversation, seq=seq).pk


def _history_settle(conversation: Conversation, channel, *, hours_ago: float) -> None:
    """Seeded history happened in the past: messages a few minutes apart ending ``hours_ago``
    ago, staff replies on a platform already delivered (the delivery worker has nothing to
    send to the fake bot). Only timestamps and delivery state change; counters stay."""
    messages = list(Message.objects.filter(conversation=conversation).order_by("seq"))
    end = timezone.now() - timedelta(hours=hours_ago)
    start = end - timedelta(minutes=4 * (len(messages) - 1))
    for index, message in enumerate(messages):
        Message.objects.filter(pk=message.pk).update(created_at=start + timedelta(minutes=4 * index),
                                                     updated_at=start + timedelta(minutes=4 * index))
    ReadMarker.objects.filter(conversation=conversation).update(read_at=end)
    Conversation.objects.filter(pk=conversation.pk).update(created_at=start, last_message_at=end, updated_at=end)
    customer_messages = Message.objects.filter(conversation=conversation, sender_type=Message.SenderType.CUSTOMER)
    last_from_customer = customer_messages.order_by("-seq").values_list("created_at", flat=True).first()
    Customer.objects.filter(pk=conversation.customer_id).update(
        created_at=start - timedelta(days=1), last_activity_at=last_from_customer)
    if channel is not None:
        for message in Message.objects.filter(conversation=conversation, delivery_status=Message.Delivery.PENDING):
            message.save(update_fields=delivery_state.mark_delivered_offline(message, platform=channel.platform))
