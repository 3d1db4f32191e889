"""The copies of a customer's tag ids that the tags filters read (GIN-indexed on PostgreSQL):
``Customer.tag_ids`` (the customer list) and ``Conversation.customer_tag_ids`` (the conversation
list). The tag links (``Customer.tags``) are the truth; this module alone keeps both copies equal
to them, whatever changes the links:

- ``customer.tags.add/remove/set/clear`` and ``tag.customers.add/remove/set/clear`` (the
  services, the admin's customer form, tests) send ``m2m_changed``: ``links_changed`` (connected
  in CustomersConfig.ready) rewrites both copies of the customers concerned from their links, in
  a constant number of statements however many customers and conversations;
- deleting a tag removes its links by cascade, which sends no signal: ``tag_copies_drop_tag``,
  called by ``tag_delete`` before the delete, takes the tag's id out of both copies.

A tag deleted some other way (``Tag.delete()`` outside the service) leaves its id in copies;
ids are never reused, so no filter finds anything by it.

Concurrent changes (PostgreSQL): before the links change, the customers concerned are locked
(``FOR UPDATE``, in id order), so two changes of one customer's tags run one after the other,
and the second rewrites the copies from the links the first committed (READ COMMITTED: a
statement reads what was committed when it started). SQLite runs one writer at a time.
"""
from django.db import connection
from django.db.models import F, Func, OuterRef, Subquery, Value
from django.db.models.expressions import RawSQL

from conversations.models import Conversation
from fiko.filtering import id_in
from fiko.id_arrays import IdArrayField

from .models import Customer

Link = Customer.tags.through
_CLEARED = "_tag_copies_cleared"  # on a Tag between pre_clear and post_clear: its wearers' ids


def _linked_ids() -> RawSQL:
    """The customer's tag ids read from its links, sorted (in an UPDATE of customers)."""
    links, customers = Link._meta.db_table, Customer._meta.db_table
    select = f"SELECT tag_id FROM {links} WHERE customer_id = {customers}.id ORDER BY tag_id"
    if connection.vendor == "postgresql":
        return RawSQL(f"ARRAY({select})", [], output_field=IdArrayField())
    return RawSQL(f"SELECT json_group_array(tag_id) FROM ({select})", [], output_field=IdArrayField())


def tag_copies_refresh(customer_ids) -> None:
    """Both copies of these customers' tag ids, rewritten from their links: one UPDATE of the
    customers, one of their conversations (which copy the customer's new list)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    Customer.objects.filter(id_in(ids)).update(tag_ids=_linked_ids())
    Conversation.objects.filter(id_in(ids, "customer_id")).update(
        customer_tag_ids=Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("tag_ids")[:1]))


def _lock(customers) -> list[int]:
    """Lock these customers' rows, in id order (where the database locks rows); their ids."""
    return list(customers.order_by("pk").select_for_update().values_list("pk", flat=True))


def links_changed(sender, *, instance, action, reverse, pk_set, **kwargs) -> None:
    """``m2m_changed`` of Customer.tags.through. Forward, ``instance`` is the customer and
    ``pk_set`` tag ids; reverse (``tag.customers...``), ``instance`` is the tag and ``pk_set``
    customer ids (None on clear: the wearers are read and kept on pre_clear)."""
    if action in ("pre_add", "post_add", "pre_remove", "post_remove") and not pk_set:
        return  # nothing to add (all linked already): no link changes
    clearing_tag = reverse and action in ("pre_clear", "post_clear")
    if action.startswith("pre_"):
        if clearing_tag:  # its wearers, read (and locked) before their links go
            setattr(instance, _CLEARED, _lock(Customer.objects.filter(
                pk__in=Link.objects.filter(tag_id=instance.pk).values("customer_id"))))
        elif connection.features.has_select_for_update:
            _lock(Customer.objects.filter(id_in(pk_set if reverse else [instance.pk])))
        return
    if clearing_tag:
        customer_ids = instance.__dict__.pop(_CLEARED, [])
    else:
        customer_ids = pk_set if reverse else [instance.pk]
    tag_copies_refresh(customer_ids)
    if not reverse:  # the instance's copy is stale: read again when next used (and not saved back)
        instance.__dict__.pop("tag_ids", None)


def tag_copies_drop_tag(tag) -> None:
    """Before ``tag`` is deleted (its links go by cascade, which sends no signal): its id leaves
    both copies, one statement each (through the GIN indexes on PostgreSQL)."""
    customers = Customer.objects.filter(workspace_id=tag.workspace_id)
    conversations = Conversation.objects.filter(workspace_id=tag.workspace_id)
    if connection.vendor == "postgresql":
        def without(column):
            return Func(F(column), Value(tag.pk), function="array_remove", output_field=IdArrayField())

        customers.filter(tag_ids__overlap=[tag.pk]).update(tag_ids=without("tag_ids"))
        conversations.filter(customer_tag_ids__overlap=[tag.pk]).update(customer_tag_ids=without("customer_tag_ids"))
        return

    def without(column):  # JSON text: the list without the id
        return RawSQL(f"(SELECT json_group_array(value) FROM json_each({column}) WHERE value <> %s)", [tag.pk],
                      output_field=IdArrayField())

    wearers = Link.objects.filter(tag_id=tag.pk).values("customer_id")
    customers.filter(pk__in=wearers).update(tag_ids=without("tag_ids"))
    conversations.filter(customer_id__in=wearers).update(customer_tag_ids=without("customer_tag_ids"))
