from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.db.models import Q

from fiko.id_arrays import IdArrayField
from fiko.search_normalize import normalize


class Source(models.TextChoices):
    TELEGRAM = "telegram"
    INSTAGRAM = "instagram"
    WEB = "web"
    UNKNOWN = "unknown"


class Tag(models.Model):
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=64)
    color = models.CharField(max_length=16, default="#64748b")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="tag_unique_name")]

    def __str__(self):
        return self.name


# Derived columns written only by their own statements, never by a full save of an instance.
_KEPT_ELSEWHERE = frozenset({"tag_ids", "has_unread"})


class Customer(models.Model):
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="customers")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UNKNOWN)
    # The customer's id on the platform (Telegram user id, Instagram-scoped id); empty for web.
    external_id = models.CharField(max_length=128, blank=True, default="")
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    username = models.CharField(max_length=150, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=32, blank=True, default="")
    profile_picture = models.CharField(max_length=500, blank=True, default="")
    profile_fetched_at = models.DateTimeField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers")
    # Derived: normalized name/username/email/phone, so search is one indexed column.
    search_text = models.TextField(blank=True, default="", editable=False)
    # Derived, for the tags filter: the sorted ids of the customer's tags, so tags=[VIP] is one
    # GIN-indexed condition on the customer (PostgreSQL, migration 0007) instead of a probe of
    # the tag links per row. Written only by customers.tag_copies (whenever the links change,
    # and when a tag is deleted), never by save(): see save().
    tag_ids = IdArrayField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # Derived: one of the customer's conversations has unread_count > 0 (customer messages staff
    # has not read), so the list's has_unread filter is a condition of this row, read through the
    # small partial indexes of the customers needing a response (migration 0008). Kept by
    # conversations.services, where unread_count changes (a customer's message sets it; staff
    # reading sets it from the customer's conversations).
    has_unread = models.BooleanField(default=False, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "source", "external_id"],
                condition=~Q(external_id=""),
                name="customer_unique_platform_id",
            )
        ]
        # One index per offered order (customers.filters.ORDER_FIELDS; each serves both
        # directions: the tie-breakers follow the direction, see StrictOrderingFilter). The
        # indexes with the NULL placement of last_activity_at (the default order; migrations 0006
        # and 0009 make its index carry search_text, email and tag_ids for index-only walks) and
        # the trigram index on search_text are PostgreSQL-only (migration 0003; SQLite has no NULLS LAST), as
        # are customer_id_ws (migration 0005: id with the columns a count's filters read, so a
        # count driven from unread conversations reads no customer row) and the GIN index on
        # tag_ids (migration 0007: the tags filter's bitmap of the wearers). The customers with
        # has_unread have two partial indexes: (workspace, source, id), portable (a count of
        # has_unread=true, with or without a source, is a range of it), and the default order's
        # keys with source INCLUDEd, PostgreSQL-only (migration 0008: the page of has_unread=true).
        indexes = [
            models.Index(fields=["workspace", "created_at", "id"], name="customer_ws_created"),
            models.Index(fields=["workspace", "updated_at", "id"], name="customer_ws_updated"),
            models.Index(fields=["workspace", "first_name", "id"], name="customer_ws_first_name"),
            models.Index(fields=["workspace", "last_name", "id"], name="customer_ws_last_name"),
            models.Index(fields=["workspace", "username", "id"], name="customer_ws_username"),
            # with id: a count's semi-join reads a source (or the whole workspace) index-only
            models.Index(fields=["workspace", "source", "id"], name="customer_ws_source_id"),
            models.Index(fields=["workspace", "source", "id"], condition=Q(has_unread=True),
                         name="customer_ws_unread_source"),
        ]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or (f"@{self.username}" if self.username else f"Customer {self.pk}")

    def save(self, *args, **kwargs):
        self.search_text = normalize(
            " ".join([self.first_name, self.last_name, self.username, self.email, self.phone])
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is None and not self._state.adding and not kwargs.get("force_insert"):
            # A full save of a stored customer writes every loaded field but the derived ones kept
            # by statements of their own (tag_ids, has_unread): the instance's copy may predate a
            # tag change or a message stored since it was read.
            update_fields = [f.attname for f in self._meta.concrete_fields
                             if not f.primary_key and f.attname not in _KEPT_ELSEWHERE and f.attname in self.__dict__]
        if update_fields is not None:
            kwargs["update_fields"] = set(update_fields) | {"search_text", "updated_at"}
        super().save(*args, **kwargs)


class CustomerAccount(models.Model):
    """Web-chat login of a customer (seed 004): phone or email plus a hashed password."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="account")
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="customer_accounts")
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=32, blank=True, default="")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "email"], condition=~Q(email=""), name="account_unique_email"),
            models.UniqueConstraint(fields=["workspace", "phone"], condition=~Q(phone=""), name="account_unique_phone"),
            models.CheckConstraint(condition=~Q(email="", phone=""), name="account_has_login"),
        ]

    def set_password(self, raw: str) -> None:
        self.password = make_password(raw)

    def check_password(self, raw: str) -> bool:
        return check_password(raw, self.password)
