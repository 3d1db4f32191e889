"""Conversation.customer_tag_ids: the ids of the customer's tags on the conversation, so the
conversation list's tags filter is one GIN-indexed condition of the conversation (PostgreSQL,
``&&``) instead of a join through the customer's tag links. Filled for the conversations of
tagged customers, in one statement (the others keep the empty default)."""
from django.db import migrations

import conversations.models
from fiko.pg_migrations import postgres_only

FILL = {
    "postgresql": (
        "UPDATE conversations_conversation SET customer_tag_ids = links.ids FROM "
        "(SELECT customer_id, array_agg(tag_id ORDER BY tag_id) AS ids FROM customers_customer_tags "
        "GROUP BY customer_id) links WHERE links.customer_id = conversations_conversation.customer_id"),
    "sqlite": (
        "UPDATE conversations_conversation SET customer_tag_ids = (SELECT json_group_array(tag_id) FROM "
        "customers_customer_tags links WHERE links.customer_id = conversations_conversation.customer_id) "
        "WHERE customer_id IN (SELECT customer_id FROM customers_customer_tags)"),
}


def fill(apps, schema_editor):
    schema_editor.execute(FILL[schema_editor.connection.vendor])


class Migration(migrations.Migration):
    dependencies = [("conversations", "0009_status_customer_index"), ("customers", "0006_activity_cover_index")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="customer_tag_ids",
            field=conversations.models.IdArrayField(blank=True, default=list, editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        postgres_only(
            ["CREATE INDEX conv_customer_tag_ids_gin ON conversations_conversation USING gin (customer_tag_ids)"],
            ["DROP INDEX IF EXISTS conv_customer_tag_ids_gin"],
        ),
    ]
