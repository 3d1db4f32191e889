"""PostgreSQL only: trigram indexes for conversation search (titles and message content, which
are stored as written and searched with the variant regex of fiko.search_normalize, which
pg_trgm also indexes) and the indexes of the orders by last_message_at with their NULL placement
(the default list order; a partial copy for unread_only)."""
from django.db import migrations

from fiko.pg_migrations import postgres_only


class Migration(migrations.Migration):
    dependencies = [("conversations", "0002_list_indexes"), ("customers", "0003_postgres_search_indexes")]

    operations = [
        postgres_only(
            [
                "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                "CREATE INDEX conv_title_trgm ON conversations_conversation USING gin (title gin_trgm_ops)",
                "CREATE INDEX message_content_trgm ON conversations_message USING gin (content gin_trgm_ops)",
                "CREATE INDEX conv_ws_last_msg_nl ON conversations_conversation "
                "(workspace_id, last_message_at DESC NULLS LAST, updated_at DESC, id DESC)",
                "CREATE INDEX conv_ws_last_msg_asc ON conversations_conversation "
                "(workspace_id, last_message_at ASC NULLS LAST, updated_at, id)",
                "CREATE INDEX conv_ws_unread_last_msg ON conversations_conversation "
                "(workspace_id, last_message_at DESC NULLS LAST, updated_at DESC, id DESC) WHERE unread_count > 0",
            ],
            [
                "DROP INDEX IF EXISTS conv_title_trgm",
                "DROP INDEX IF EXISTS message_content_trgm",
                "DROP INDEX IF EXISTS conv_ws_last_msg_nl",
                "DROP INDEX IF EXISTS conv_ws_last_msg_asc",
                "DROP INDEX IF EXISTS conv_ws_unread_last_msg",
            ],
        ),
    ]
