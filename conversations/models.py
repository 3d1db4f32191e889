from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.models import Source
from fiko.id_arrays import IdArrayField  # migration 0010 names it here


class Status(models.TextChoices):
    OPEN = "open"
    PENDING = "pending"
    CLOSED = "closed"


class Priority(models.IntegerChoices):
    LOW = 0, "low"
    MEDIUM = 1, "medium"
    HIGH = 2, "high"
    URGENT = 3, "urgent"


class Conversation(models.Model):
    """A thread with one customer (seed 004 calls it a "chat")."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="conversations")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="conversations")
    channel = models.ForeignKey(
        "integrations.Channel", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WEB)
    title = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.MEDIUM)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_conversations"
    )
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Denormalized counters, kept by the services under the conversation row lock:
    last_seq = models.PositiveIntegerField(default=0)  # seq of the newest message
    last_message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unread_count = models.PositiveIntegerField(default=0)  # customer messages staff has not read
    customer_unread_count = models.PositiveIntegerField(default=0)  # staff messages the customer has not read
    # Derived, for search: the distinct normalized words of its messages that are not deleted
    # (fiko.search_normalize.words_added), so a search reads one trigram-indexed column of the
    # conversation instead of its messages. The store appends under the row lock; an edit or
    # deletion rebuilds it (conversation_refresh_message_words).
    message_words = models.TextField(blank=True, default="", editable=False)
    # Derived, for search: the customer's search_text, so a search by the customer's name reads a
    # column of the conversation (a trigram index on PostgreSQL) instead of joining customers.
    # Filled on creation (save) and rewritten by the customer services when it changes.
    customer_words = models.TextField(blank=True, default="", editable=False)
    # Derived, for the tags filter: the ids of the customer's tags, so tags=[VIP] is one
    # GIN-indexed condition on the conversation (PostgreSQL) instead of a join through the
    # customer's tag links. Filled on creation (save) and rewritten with Customer.tag_ids by
    # customers.tag_copies whenever the customer's tag links change or a tag is deleted (a
    # rename keeps the ids).
    customer_tag_ids = IdArrayField(default=list, blank=True, editable=False)

    class Meta:
        constraints = [
            # One live thread per customer and platform channel; two concurrent webhooks cannot
            # open two. Web chats (no channel) may have several.
            models.UniqueConstraint(
                fields=["customer", "channel"],
                condition=Q(channel__isnull=False) & ~Q(status="closed"),
                name="conversation_one_open_per_channel",
            )
        ]
        # One index per offered order (conversations.filters.ORDER_FIELDS, both directions) and
        # (workspace, status, priority) for those filters. The indexes with the NULL placement of
        # last_message_at (the default order, also partial for unread_only and, migration 0007,
        # for is_archived) and the trigram indexes on titles and message content are
        # PostgreSQL-only (migration 0003).
        indexes = [
            models.Index(fields=["workspace", "status", "priority"], name="conv_ws_status"),
            models.Index(fields=["workspace", "updated_at", "id"], name="conv_ws_updated"),
            models.Index(fields=["workspace", "created_at", "id"], name="conv_ws_created"),
            models.Index(fields=["workspace", "priority", "id"], name="conv_ws_priority"),
            models.Index(fields=["workspace", "unread_count", "id"], name="conv_ws_unread_count"),
            models.Index(fields=["workspace", "status", "id"], name="conv_ws_status_order"),
            models.Index(fields=["customer"], condition=Q(unread_count__gt=0), name="conv_customer_unread"),
            # Counts read these index-only: a customer's conversations in a status
            # (conversation_status), a workspace's conversations of given customers (tags, search).
            models.Index(fields=["customer", "status"], name="conv_customer_status"),
            models.Index(fields=["workspace", "customer", "id"], name="conv_ws_customer"),
            # A status's customers as one range (the hash side of a conversation_status count).
            models.Index(fields=["status", "customer"], name="conv_status_customer"),
        ]

    def __str__(self):
        return self.title or f"Conversation {self.pk}"

    def save(self, *args, **kwargs):
        if self._state.adding and not self.customer_words and self.customer_id is not None:
            self.customer_words = self.customer.search_text
        if self._state.adding and self.customer_id is not None:
            self.customer_tag_ids = list(self.customer.tags.through.objects.filter(
                customer_id=self.customer_id).values_list("tag_id", flat=True))
        super().save(*args, **kwargs)


class Message(models.Model):
    class Role(models.TextChoices):  # wire field "type": the author's role
        CUSTOMER = "customer"
        SUPPORT = "support"
        MARKETING = "marketing"
        AI = "AI"

    class SenderType(models.TextChoices):
        CUSTOMER = "customer"
        USER = "user"
        AI = "ai"
        SYSTEM = "system"

    class MessageType(models.TextChoices):
        TEXT = "text"
        IMAGE = "image"
        VOICE = "voice"
        VIDEO = "video"
        FILE = "file"

    class Delivery(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"
        RECEIVED = "received"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    content = models.TextField(blank=True, default="")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SUPPORT)
    sender_type = models.CharField(max_length=10, choices=SenderType.choices)
    sender_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sender_customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message_type = models.CharField(max_length=10, choices=MessageType.choices, default=MessageType.TEXT)
    media_url = models.CharField(max_length=500, blank=True, default="")
    thumbnail_url = models.CharField(max_length=500, blank=True, default="")
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reference = models.JSONField(null=True, blank=True)
    is_ai_response = models.BooleanField(default=False)
    is_answered = models.BooleanField(default=False)
    is_edited = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)
    # Platform side: the channel it came from / went to and the platform's message id.
    channel = models.ForeignKey("integrations.Channel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    external_id = models.CharField(max_length=255, blank=True, default="")
    delivery_status = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.SENT)
    external_send_result = models.JSONField(null=True, blank=True)
    # Durable outbox: a pending outbound message is its own job (see integrations/outbox.py).
    send_attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    client_message_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["channel", "external_id"], condition=~Q(external_id=""), name="message_unique_external_id"
            ),
            models.UniqueConstraint(
                fields=["conversation", "sender_user", "client_message_id"],
                condition=~Q(client_message_id="") & Q(sender_user__isnull=False),
                name="message_unique_client_id_user",
            ),
            models.UniqueConstraint(
                fields=["conversation", "sender_customer", "client_message_id"],
                condition=~Q(client_message_id="") & Q(sender_customer__isnull=False),
                name="message_unique_client_id_customer",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(delivery_status="pending"), name="message_outbox_due"
            ),
            # The few customer messages still waiting for an answer: a staff reply marks them
            # answered, and the store probes for them under the conversation's lock.
            models.Index(
                fields=["conversation"], condition=Q(sender_type="customer", is_answered=False),
                name="message_unanswered",
            ),
        ]

    def __str__(self):
        return f"#{self.seq} {self.content[:40]}"


class ReadMarker(models.Model):
    """How far one reader (a staff user or the customer) has read a conversation.

    One row per reader: unread counts live on the conversation, and a message's read receipts
    are the markers whose ``last_read_seq`` reaches its ``seq`` (one query per page, no loops).
    """

    class ReaderType(models.TextChoices):
        USER = "user"
        CUSTOMER = "customer"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="read_markers")
    reader_type = models.CharField(max_length=10, choices=ReaderType.choices)
    reader_id = models.BigIntegerField()
    last_read_seq = models.PositiveIntegerField(default=0)
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "reader_type", "reader_id"], name="read_marker_unique")
        ]
