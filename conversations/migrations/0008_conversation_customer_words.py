"""Conversation.customer_words: the customer's search_text on the conversation, so a search by
the customer's name is one trigram-indexed column of the conversation (PostgreSQL), not a read
of customers joined back to their conversations. Filled for the conversations that exist, in
one statement."""
from django.db import migrations, models

from fiko.pg_migrations import postgres_only

FILL = ("UPDATE conversations_conversation SET customer_words = (SELECT search_text FROM customers_customer "
        "WHERE customers_customer.id = conversations_conversation.customer_id)")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0007_archived_index"), ("customers", "0005_count_indexes")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="customer_words",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop, elidable=True),
        postgres_only(
            ["CREATE INDEX conv_customer_words_trgm ON conversations_conversation "
             "USING gin (customer_words gin_trgm_ops)",
             # the planner estimates LIKE '%word%' from this sample (see customers 0004)
             "ALTER TABLE conversations_conversation ALTER COLUMN customer_words SET STATISTICS 1000"],
            ["DROP INDEX IF EXISTS conv_customer_words_trgm",
             "ALTER TABLE conversations_conversation ALTER COLUMN customer_words SET STATISTICS -1"],
        ),
    ]
