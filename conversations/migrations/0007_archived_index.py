"""PostgreSQL only: the archived conversations in the default list order (NULLS LAST, as
conv_ws_last_msg_nl), partial: ``is_archived=true`` reads its page and its capped count from
this small index instead of walking the whole list or scanning the table."""
from django.db import migrations

from fiko.pg_migrations import postgres_only


class Migration(migrations.Migration):
    dependencies = [("conversations", "0006_count_indexes")]

    operations = [
        postgres_only(
            ["CREATE INDEX conv_ws_archived_last_msg ON conversations_conversation "
             "(workspace_id, last_message_at DESC NULLS LAST, updated_at DESC, id DESC) WHERE is_archived"],
            ["DROP INDEX IF EXISTS conv_ws_archived_last_msg"],
        ),
    ]
