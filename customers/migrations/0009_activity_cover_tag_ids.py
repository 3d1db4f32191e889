"""PostgreSQL only: the default order's index also carries tag_ids, so the id query of a page
filtered by tags (seed 001's "VIP with email": tags and has_email) is an index-only walk that
tests both conditions in the index instead of fetching each walked customer's row (the first
page at a million customers: 5,269 heap fetches, 31 ms -> index-only, 1.4 ms). It replaces
migration 0006's customer_ws_activity_cover (same keys, search_text and email)."""
from django.db import migrations

from fiko.pg_migrations import postgres_only

KEYS = "(workspace_id, last_activity_at DESC NULLS LAST, created_at DESC, id DESC)"


class Migration(migrations.Migration):
    dependencies = [("customers", "0008_customer_has_unread")]

    operations = [
        postgres_only(
            ["DROP INDEX IF EXISTS customer_ws_activity_cover",
             f"CREATE INDEX customer_ws_activity_cover ON customers_customer {KEYS} INCLUDE (search_text, email, tag_ids)"],
            ["DROP INDEX IF EXISTS customer_ws_activity_cover",
             f"CREATE INDEX customer_ws_activity_cover ON customers_customer {KEYS} INCLUDE (search_text, email)"],
        ),
    ]
