"""Customer.has_unread: whether one of the customer's conversations has unread customer messages
(unread_count > 0), so the customer list's has_unread filter reads a flag of the row instead of
probing the conversations of every customer it walks.

Filled in one statement (the customers with an unread conversation; the others keep the false
default), then indexed for the customers who have it, a small share of a tenant:
- customer_ws_unread_source (workspace, source, id) WHERE has_unread, on every database: the
  capped count of has_unread=true, with or without a source (seed 001's "telegram needing
  response"), is a range of it instead of a semi join over a whole source;
- PostgreSQL only, customer_ws_unread_activity: the default order's keys (as
  customer_ws_activity_cover, NULLS LAST) WHERE has_unread, with source INCLUDEd, so the page of
  has_unread=true (and of has_unread=true with a source) is read in order from the few rows that
  match instead of walking the whole tenant's order."""
from django.db import migrations, models
from django.db.models import Q

from fiko.pg_migrations import postgres_only


def fill(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    Conversation = apps.get_model("conversations", "Conversation")
    unread = Conversation.objects.filter(unread_count__gt=0).values("customer_id")
    Customer.objects.using(schema_editor.connection.alias).filter(pk__in=unread).update(has_unread=True)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_customer_tag_ids"),
        ("conversations", "0002_list_indexes"),  # conv_customer_unread: the fill reads it
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="has_unread",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(fields=["workspace", "source", "id"], condition=Q(has_unread=True),
                               name="customer_ws_unread_source"),
        ),
        postgres_only(
            ["CREATE INDEX customer_ws_unread_activity ON customers_customer "
             "(workspace_id, last_activity_at DESC NULLS LAST, created_at DESC, id DESC) INCLUDE (source) "
             "WHERE has_unread"],
            ["DROP INDEX IF EXISTS customer_ws_unread_activity"],
        ),
    ]
