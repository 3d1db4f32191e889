"""Conversation.message_words: the distinct normalized words of a conversation's messages, for
search (a trigram index and a finer planner sample on PostgreSQL), filled for the conversations
that exist. The fill reads
the messages in conversation order, in batches (minutes for millions of messages)."""
from django.db import migrations, models

from fiko.pg_migrations import postgres_only
from fiko.search_normalize import words_added

BATCH = 2_000


def fill(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    last_id = 0
    while True:
        ids = list(Conversation.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            return
        words = dict.fromkeys(ids, "")
        rows = (Message.objects.filter(conversation_id__gte=ids[0], conversation_id__lte=ids[-1], is_deleted=False)
                .exclude(content="").order_by("conversation_id", "seq").values_list("conversation_id", "content"))
        for conversation_id, content in rows.iterator(chunk_size=10_000):
            if conversation_id in words:
                words[conversation_id] = words_added(words[conversation_id], content)
        changed = [Conversation(pk=pk, message_words=text) for pk, text in words.items() if text]
        Conversation.objects.bulk_update(changed, ["message_words"], batch_size=500)
        last_id = ids[-1]


class Migration(migrations.Migration):
    dependencies = [("conversations", "0004_message_unanswered_index")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="message_words",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        postgres_only(
            ["CREATE INDEX conv_message_words_trgm ON conversations_conversation "
             "USING gin (message_words gin_trgm_ops)",
             # the planner estimates LIKE '%word%' from this sample (see customers 0004)
             "ALTER TABLE conversations_conversation ALTER COLUMN message_words SET STATISTICS 1000"],
            ["DROP INDEX IF EXISTS conv_message_words_trgm",
             "ALTER TABLE conversations_conversation ALTER COLUMN message_words SET STATISTICS -1"],
        ),
    ]
