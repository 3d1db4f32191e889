"""PostgreSQL only: the trigram index for customer search (LIKE '%word%' on search_text) and
the indexes of the orders by last_activity_at with their NULL placement (NULLS LAST, as
StrictOrderingFilter and customer_list order)."""
from django.db import migrations

from fiko.pg_migrations import postgres_only


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_list_indexes")]

    operations = [
        postgres_only(
            [
                "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                "CREATE INDEX customer_search_trgm ON customers_customer USING gin (search_text gin_trgm_ops)",
                "CREATE INDEX customer_ws_activity_nl ON customers_customer "
                "(workspace_id, last_activity_at DESC NULLS LAST, created_at DESC, id DESC)",
                "CREATE INDEX customer_ws_activity_asc ON customers_customer "
                "(workspace_id, last_activity_at ASC NULLS LAST, created_at, id)",
            ],
            [
                "DROP INDEX IF EXISTS customer_search_trgm",
                "DROP INDEX IF EXISTS customer_ws_activity_nl",
                "DROP INDEX IF EXISTS customer_ws_activity_asc",
            ],
        ),
    ]
