"""Scale data for one workspace: many customers, conversations and messages, fast.

``seed_scale`` (the management command) calls ``scale_seed``. Rows are generated in Python
from a seeded random generator and written in bulk: ``COPY`` on PostgreSQL (a million
customers and three million messages in minutes), ``executemany`` on SQLite (small loads for
tests). Everything derived is consistent with what the services would have written:

- customers: 55% Persian names (a quarter written with the Arabic letters ي/ك, some phones in
  Persian digits), the rest English; usernames, emails and phones on a share of them; sources;
  ``search_text`` exactly as ``Customer.save`` normalizes it; ``last_activity_at`` = their
  newest own message; ``has_unread`` = one of their conversations has ``unread_count > 0``;
- tags (English and Persian names) on about a third of the customers, and their sorted ids in
  ``Customer.tag_ids``;
- conversations spread over a year, each with messages in ``seq`` order (ids rise with seq),
  customer and staff messages alternating irregularly, ``is_answered`` set on customer
  messages a staff reply followed; ``last_seq``, ``last_message``, ``last_message_at``,
  ``message_words`` (the distinct normalized words of its messages, as the store keeps them),
  ``customer_words`` (its customer's ``search_text``), ``customer_tag_ids`` (its customer's tag ids);
- read markers of the owner and of the customer, and ``unread_count`` /
  ``customer_unread_count`` equal to the messages after those markers (most threads are read).

Ids are assigned here (after the tables' current maximum, under a lock) so a conversation can
name its last message before the messages are written; the sequences are moved past them.
"""
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone
from math import gcd

from django.db import connection, transaction

from conversations.models import Conversation, Message, ReadMarker
from customers.models import Customer, Tag
from fiko.search_normalize import normalize, search_words
from workspaces.models import Membership, Workspace

PERSIAN_FIRST = (("علی", "ali"), ("محمد", "mohammad"), ("رضا", "reza"), ("مهدی", "mahdi"), ("حسین", "hossein"),
                 ("زهرا", "zahra"), ("فاطمه", "fatemeh"), ("مریم", "maryam"), ("سارا", "sara"), ("نیلوفر", "niloofar"),
                 ("کاوه", "kaveh"), ("یاسمن", "yasaman"), ("کیان", "kian"), ("نرگس", "narges"), ("پریسا", "parisa"),
                 ("امیر", "amir"), ("هستی", "hasti"), ("یوسف", "yousef"), ("کامران", "kamran"), ("شیرین", "shirin"))
PERSIAN_LAST = (("محمدی", "mohammadi"), ("احمدی", "ahmadi"), ("کریمی", "karimi"), ("رضایی", "rezaei"),
                ("حسینی", "hosseini"), ("موسوی", "mousavi"), ("کاظمی", "kazemi"), ("جعفری", "jafari"),
                ("یزدانی", "yazdani"), ("نیکپور", "nikpour"), ("صادقی", "sadeghi"), ("کرمانی", "kermani"),
                ("تهرانی", "tehrani"), ("قاسمی", "ghasemi"), ("ملکی", "maleki"))
ENGLISH_FIRST = ("John", "Emma", "Olivia", "Liam", "Noah", "Ava", "Sophia", "James", "Lucas", "Mia", "Ethan",
                 "Harper", "Daniel", "Grace", "Henry")
ENGLISH_LAST = ("Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Walker", "Wright", "Robinson",
                "Clarke", "Hughes", "Green", "Hall", "Wood")
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "example.com")
TAGS = (("VIP", "#eab308"), ("Premium", "#8b5cf6"), ("Wholesale", "#0ea5e9"), ("Returning", "#22c55e"),
        ("Complaint", "#ef4444"), ("Newsletter", "#64748b"), ("وفادار", "#f97316"), ("عمده", "#14b8a6"),
        ("جدید", "#84cc16"), ("ویژه", "#ec4899"), ("Lead", "#6366f1"), ("Influencer", "#a855f7"))
TITLES = ("Order question", "Refund request", "Shipping delay", "Price inquiry", "Product availability",
          "سوال درباره قیمت", "پیگیری سفارش", "درخواست مرجوعی", "مشکل پرداخت", "Wholesale inquiry")
CUSTOMER_EN = ("Hi, is this still available?", "What is the price of the blue one?",
               "I would like a refund for my order", "When will my order ship?", "Thanks, I received it today",
               "Can I change the delivery address?", "Do you have this in size M?", "The package arrived damaged",
               "Please send me the tracking number", "Is there a discount if I buy two?")
STAFF_EN = ("Sure, let me check that for you.", "Your order has shipped today.", "We have processed your refund.",
            "Yes, it is in stock.", "Thanks for your patience!", "The price is 25 dollars plus shipping.")
CUSTOMER_FA = ("سلام، قیمت این محصول چنده؟", "کی ارسال می‌شه؟", "می‌خوام سفارشم رو لغو کنم", "ممنون، به دستم رسید",
               "این رنگ موجود هست؟", "لطفا کد رهگیری رو بفرستید", "تخفیف دارید؟", "بسته آسیب دیده بود",
               "قیمت ارسال به شیراز چقدره؟")
STAFF_FA = ("سلام، بله موجود است.", "سفارش شما امروز ارسال شد.", "قیمت نهایی ۲۵۰ هزار تومان است.",
            "ممنون از صبر شما", "کد رهگیری: ۱۲۳۴۵۶", "وجه شما بازگشت داده شد.")
# One message in RARE_EVERY carries this phrase: a rare search term for the bench.
RARE_WORD = "warranty-claim"
RARE_EVERY = 40_000
ARABIC_LETTERS = str.maketrans({"ی": "ي", "ک": "ك"})
PERSIAN_DIGITS = str.maketrans({str(i): chr(0x06F0 + i) for i in range(10)})
YEAR = timedelta(days=365)


@dataclass
class ScaleReport:
    workspace: Workspace
    counts: dict = field(default_factory=dict)


class _Writer:
    """Bulk inserts: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self):
        self.postgres = connection.vendor == "postgresql"
        self.ops = connection.ops

    def when(self, moment):
        return moment if self.postgres or moment is None else self.ops.adapt_datetimefield_value(moment)

    def ids(self, ids):
        """An IdArrayField's value: a list (an array through COPY), JSON text elsewhere."""
        ids = sorted(ids)
        return ids if self.postgres else json.dumps(ids)

    def rows(self, model, columns, rows) -> int:
        table = model._meta.db_table
        count = 0
        with connection.cursor() as cursor:
            if self.postgres:
                names = ", ".join(connection.ops.quote_name(c) for c in columns)
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
                return count
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
            batch = []
            for row in rows:
                batch.append(row)
                if len(batch) == 2000:
                    cursor.executemany(sql, batch)
                    count, batch = count + len(batch), []
            if batch:
                cursor.executemany(sql, batch)
                count += len(batch)
        return count


def _next_id(model) -> int:
    """The first free id of ``model`` (ids are assigned here, under the table lock)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {model._meta.db_table}")
        return cursor.fetchone()[0] + 1


def _lock(*models):
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in models:
                cursor.execute(f"LOCK TABLE {model._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")


def _move_sequences(*models):
    if connection.vendor != "postgresql":
        return  # SQLite's AUTOINCREMENT already follows the largest id inserted
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")


def _coprime_step(n: int) -> int:
    step = max(1, int(n * 0.618))
    while gcd(step, n) != 1:
        step += 1
    return step


def _customer_row(rng, index, customer_id, workspace_id, now, w):
    persian = rng.random() < 0.55
    if persian:
        (first, first_latin), (last, last_latin) = rng.choice(PERSIAN_FIRST), rng.choice(PERSIAN_LAST)
        if rng.random() < 0.25:  # typed on an Arabic keyboard
            first, last = first.translate(ARABIC_LETTERS), last.translate(ARABIC_LETTERS)
    else:
        first, last = rng.choice(ENGLISH_FIRST), rng.choice(ENGLISH_LAST)
        first_latin, last_latin = first.lower(), last.lower()
    roll = rng.random()
    source = "telegram" if roll < 0.45 else "instagram" if roll < 0.75 else "web" if roll < 0.95 else "unknown"
    external_id = {"telegram": str(500_000_000 + index), "instagram": f"17841{index:010d}"}.get(source, "")
    if rng.random() < 0.1:
        first, last = ("", "") if source != "web" else (first, last)  # platform users without a name
    username = f"{first_latin}_{last_latin}{index}" if source in ("telegram", "instagram") and rng.random() < 0.7 else ""
    email = f"{first_latin}.{last_latin}{index}@{rng.choice(DOMAINS)}" if rng.random() < 0.4 else ""
    phone = ""
    if rng.random() < 0.45:
        phone = f"+98912{index % 10_000_000:07d}" if persian else f"+1555{index % 10_000_000:07d}"
        if persian and rng.random() < 0.1:
            phone = "0912" + f"{index % 10_000_000:07d}".translate(PERSIAN_DIGITS)
    created = now - YEAR * rng.random()
    search_text = normalize(" ".join([first, last, username, email, phone]))
    return (customer_id, workspace_id, source, external_id, first, last, username, email, phone, "", search_text,
            w.when(created), w.when(created), None, w.ids(()), False)


# tag_ids and has_unread are written empty/false here and filled later: tag_ids from the links
# (_customer_tag_ids), has_unread once the conversations are in (_customer_has_unread)
CUSTOMER_COLUMNS = ("id", "workspace_id", "source", "external_id", "first_name", "last_name", "username", "email",
                    "phone", "profile_picture", "search_text", "created_at", "updated_at", "last_activity_at",
                    "tag_ids", "has_unread")
CONVERSATION_COLUMNS = ("id", "workspace_id", "customer_id", "channel_id", "source", "title", "status", "priority",
                        "assignee_id", "is_archived", "created_at", "updated_at", "last_message_at", "last_seq",
                        "last_message_id", "unread_count", "customer_unread_count", "message_words",
                        "customer_words", "customer_tag_ids")
MESSAGE_COLUMNS = ("id", "conversation_id", "seq", "content", "role", "sender_type", "sender_user_id",
                   "sender_customer_id", "message_type", "media_url", "thumbnail_url", "reply_to_id", "reference",
                   "is_ai_response", "is_answered", "is_edited", "is_deleted", "channel_id", "external_id",
                   "delivery_status", "external_send_result", "send_attempts", "next_attempt_at",
                   "client_message_id", "created_at", "updated_at")
MARKER_COLUMNS = ("conversation_id", "reader_type", "reader_id", "last_read_seq", "read_at")


_WORDS: dict[str, list[str]] = {}


def _words(text: str) -> list[str]:
    """search_words of a message text, remembered (the texts repeat)."""
    if text not in _WORDS:
        if len(_WORDS) > 100_000:
            _WORDS.clear()
        _WORDS[text] = search_words(text)
    return _WORDS[text]


def _message_counts(rng, conversations: int, messages: int) -> list[int]:
    """Messages per conversation: at least one each (while they last), the rest skewed
    (exponential weights: most threads short, some long); the total is exactly ``messages``."""
    if conversations == 0:
        return []
    if messages <= conversations:
        return [1] * messages + [0] * (conversations - messages)
    weights = [rng.expovariate(1.0) for _ in range(conversations)]
    spare, total = messages - conversations, sum(weights)
    counts = [1 + int(spare * w / total) for w in weights]
    for k in range(messages - sum(counts)):
        counts[k % conversations] += 1
    return counts


class _Thread:
    """One conversation's rows, generated together so the counters agree with the messages."""

    def __init__(self, *, rng, conversation_id, customer_id, customer_source, customer_words, customer_tag_ids,
                 owner_id, first_message_id, message_index, count, now, workspace_id, w):
        self.messages, self.markers = [], []
        created = now - YEAR * rng.random()
        persian = rng.random() < 0.5
        status = rng.choices(("open", "pending", "closed"), (50, 15, 35))[0]
        times = sorted(created + (now - created) * rng.random() for _ in range(count))
        senders = []
        for seq, moment in enumerate(times, start=1):
            message_id = first_message_id + seq - 1
            from_customer = seq == 1 or rng.random() < 0.55
            senders.append(from_customer)
            text = rng.choice((CUSTOMER_FA if persian else CUSTOMER_EN) if from_customer
                              else (STAFF_FA if persian else STAFF_EN))
            if persian and rng.random() < 0.2:
                text = text.translate(ARABIC_LETTERS)
            kind, media = "text", ""
            if (message_index + seq) % RARE_EVERY == 7:
                text += f" ({RARE_WORD} SN{message_index + seq})"
            elif rng.random() < 0.04:
                kind, media, text = "image", f"/media/scale/{message_id}.jpg", ""
            if from_customer:
                role, sender_type, user_id, sender_customer, ai, delivery = (
                    "customer", "customer", None, customer_id, False, "received")
            elif rng.random() < 0.05:
                role, sender_type, user_id, sender_customer, ai, delivery = ("AI", "ai", None, None, True, "sent")
            else:
                role = "marketing" if rng.random() < 0.1 else "support"
                sender_type, user_id, sender_customer, ai, delivery = ("user", owner_id, None, False, "sent")
            self.messages.append([
                message_id, conversation_id, seq, text, role, sender_type, user_id, sender_customer, kind, media, "",
                None, None, ai, False, False, False, None, "", delivery, None, 0, None, "", w.when(moment),
                w.when(moment)])
        # is_answered: a customer message that a later staff/AI message followed.
        answered_up_to = max((seq for seq, c in enumerate(senders, start=1) if not c), default=0)
        for row, from_customer in zip(self.messages, senders):
            row[14] = from_customer and row[2] < answered_up_to
        last_seq = count
        staff_read = last_seq if status == "closed" or rng.random() < 0.85 else rng.randrange(0, last_seq + 1)
        customer_read = last_seq if rng.random() < 0.8 else rng.randrange(0, last_seq + 1)
        unread = sum(1 for seq, c in enumerate(senders, start=1) if c and seq > staff_read)
        customer_unread = sum(1 for seq, c in enumerate(senders, start=1)
                              if not c and seq > customer_read and self.messages[seq - 1][5] == "user")
        if staff_read:
            self.markers.append((conversation_id, "user", owner_id, staff_read, w.when(times[staff_read - 1])))
        if customer_read:
            self.markers.append((conversation_id, "customer", customer_id, customer_read,
                                 w.when(times[customer_read - 1])))
        words: dict[str, None] = {}  # Conversation.message_words, as the store appends it
        for row in self.messages:
            if row[3]:
                words.update(dict.fromkeys(_words(row[3])))
        last_at = times[-1] if times else None
        title = rng.choice(TITLES) if rng.random() < 0.6 else ""
        source = customer_source if customer_source in ("telegram", "instagram") else "web"
        priority = rng.choices((0, 1, 2, 3), (20, 55, 18, 7))[0]
        assignee = owner_id if rng.random() < 0.3 else None
        self.row = (conversation_id, workspace_id, customer_id, None, source, title, status, priority, assignee,
                    rng.random() < 0.05, w.when(created), w.when(last_at or created), w.when(last_at), last_seq,
                    first_message_id + count - 1 if count else None, unread, customer_unread, " ".join(words),
                    customer_words, w.ids(customer_tag_ids))
        self.messages = [tuple(row) for row in self.messages]


def scale_seed(*, workspace: Workspace, customers: int, conversations: int, messages: int, seed: int = 12,
               chunk: int = 20_000, progress=None) -> ScaleReport:
    """Load the rows into ``workspace`` (its owner is the staff author and reader). Commits per
    phase and per ``chunk`` conversations, so a big load holds no huge transaction."""
    if customers < 1 and conversations:
        raise ValueError("conversations need customers")
    progress = progress or (lambda text: None)
    owner_id = (Membership.objects.filter(workspace=workspace, role=Membership.Role.OWNER)
                .values_list("user_id", flat=True).first())
    if owner_id is None:
        raise ValueError(f"workspace {workspace.slug} has no owner")
    rng, w = random.Random(seed), _Writer()
    now = datetime.now(dt_timezone.utc)
    report = ScaleReport(workspace=workspace)
    through = Customer.tags.through

    with transaction.atomic():
        _lock(Customer, Tag, through)
        tag_ids = []
        for name, color in TAGS:
            tag, _ = Tag.objects.get_or_create(workspace=workspace, name=name, defaults={"color": color})
            tag_ids.append(tag.pk)
        first_customer = _next_id(Customer)
        sources, search_texts = [], []

        def customer_rows():
            for index in range(customers):
                row = _customer_row(rng, index, first_customer + index, workspace.pk, now, w)
                sources.append(row[2])
                search_texts.append(row[10])
                yield row

        report.counts["customers"] = w.rows(Customer, CUSTOMER_COLUMNS, customer_rows())

        tagged = {}  # customer index -> its tag ids, copied onto its conversations

        def tag_rows():
            for index in range(customers):
                if rng.random() < 0.3:
                    picked = rng.sample(tag_ids, 2 if rng.random() < 0.2 else 1)
                    tagged[index] = picked
                    for tag_id in picked:
                        yield first_customer + index, tag_id

        report.counts["tag_links"] = w.rows(through, ("customer_id", "tag_id"), tag_rows())
        _customer_tag_ids(workspace.pk, first_customer)
        _move_sequences(Customer, through)
    progress(f"customers: {report.counts['customers']}, tag links: {report.counts['tag_links']}")

    counts = _message_counts(rng, conversations, messages)
    step = _coprime_step(customers) if customers else 1
    report.counts.update(conversations=0, messages=0, read_markers=0)
    for start in range(0, conversations, chunk):
        with transaction.atomic():
            _lock(Conversation, Message, ReadMarker)
            first_conversation, message_id = _next_id(Conversation), _next_id(Message)
            message_index = sum(counts[:start]) if start else 0
            threads = []
            for k in range(start, min(start + chunk, conversations)):
                customer_index = (k * step) % customers
                thread = _Thread(rng=rng, conversation_id=first_conversation + k - start,
                                 customer_id=first_customer + customer_index,
                                 customer_source=sources[customer_index],
                                 customer_words=search_texts[customer_index],
                                 customer_tag_ids=tagged.get(customer_index, ()), owner_id=owner_id,
                                 first_message_id=message_id, message_index=message_index, count=counts[k], now=now,
                                 workspace_id=workspace.pk, w=w)
                message_id += counts[k]
                message_index += counts[k]
                threads.append(thread)
            report.counts["conversations"] += w.rows(Conversation, CONVERSATION_COLUMNS, (t.row for t in threads))
            report.counts["messages"] += w.rows(Message, MESSAGE_COLUMNS, (m for t in threads for m in t.messages))
            report.counts["read_markers"] += w.rows(ReadMarker, MARKER_COLUMNS, (m for t in threads for m in t.markers))
            _move_sequences(Conversation, Message, ReadMarker)
        progress(f"conversations: {report.counts['conversations']}/{conversations}, "
                 f"messages: {report.counts['messages']}")

    _analyze(Customer, Message)  # fresh statistics before the set-based update reads the new rows
    with transaction.atomic():
        _customer_activity(workspace.pk, first_customer)
        _customer_has_unread(workspace.pk, first_customer)
    _analyze(Customer, through, Conversation, Message, ReadMarker)
    return report


def _analyze(*models):
    """Fresh statistics, and the GIN indexes' pending lists merged into the indexes (the bulk
    insert left its entries there; a planner costs a scan of that list as a table-sized read,
    and ANALYZE outside autovacuum does not merge it, VACUUM would)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in models:
                cursor.execute(
                    "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                    "WHERE a.amname = 'gin' AND i.indrelid = %s::regclass", [model._meta.db_table])
                cursor.execute(f"ANALYZE {model._meta.db_table}")


def _customer_tag_ids(workspace_id: int, first_customer: int) -> None:
    """``tag_ids`` of the new tagged customers: their links' tag ids, sorted, in one statement
    (the tags are drawn after the customer rows are written, so the rows go out with none)."""
    customer, links = Customer._meta.db_table, Customer.tags.through._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {customer} c SET tag_ids = l.ids FROM (SELECT customer_id, array_agg(tag_id ORDER BY tag_id) "
                f"AS ids FROM {links} WHERE customer_id >= %s GROUP BY customer_id) l "
                f"WHERE c.id = l.customer_id AND c.workspace_id = %s", [first_customer, workspace_id])
        else:
            cursor.execute(
                f"UPDATE {customer} SET tag_ids = (SELECT json_group_array(tag_id) FROM (SELECT tag_id FROM {links} "
                f"WHERE customer_id = {customer}.id ORDER BY tag_id)) WHERE workspace_id = %s AND id >= %s "
                f"AND id IN (SELECT customer_id FROM {links})", [workspace_id, first_customer])


def _customer_activity(workspace_id: int, first_customer: int) -> None:
    """``last_activity_at`` (and ``updated_at``) of the new customers: their newest own message,
    as ``message_create`` keeps it."""
    customer, message = Customer._meta.db_table, Message._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {customer} c SET last_activity_at = a.at, updated_at = GREATEST(c.updated_at, a.at) "
                f"FROM (SELECT sender_customer_id AS id, MAX(created_at) AS at FROM {message} "
                f"WHERE sender_customer_id >= %s GROUP BY sender_customer_id) a "
                f"WHERE c.id = a.id AND c.workspace_id = %s", [first_customer, workspace_id])
        else:
            latest = (f"(SELECT MAX(m.created_at) FROM {message} m WHERE m.sender_customer_id = {customer}.id)")
            cursor.execute(
                f"UPDATE {customer} SET last_activity_at = {latest}, updated_at = MAX(updated_at, "
                f"COALESCE({latest}, updated_at)) WHERE workspace_id = %s AND id >= %s", [workspace_id, first_customer])


def _customer_has_unread(workspace_id: int, first_customer: int) -> None:
    """``has_unread`` of the new customers: one of their conversations has unread customer
    messages, as the services keep it. One statement (the new conversations are all theirs)."""
    customer, conversation = Customer._meta.db_table, Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {customer} SET has_unread = %s WHERE workspace_id = %s AND id >= %s AND id IN "
            f"(SELECT customer_id FROM {conversation} WHERE workspace_id = %s AND unread_count > 0)",
            [True, workspace_id, first_customer, workspace_id])
