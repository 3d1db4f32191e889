"""PostgreSQL only: a finer sample of customers.search_text for the planner (1,000 histogram
entries instead of 100). A search's LIKE '%word%' is estimated by testing the word against that
sample; with 100 entries a word in 2% of a million customers reads as 0-5%, and the planner
picks walking the sort index (a heap fetch per row) where reading the trigram matches and
sorting them is 10-20x cheaper, or the reverse. Takes effect at the next ANALYZE."""
from django.db import migrations

from fiko.pg_migrations import postgres_only


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_postgres_search_indexes")]

    operations = [
        postgres_only(
            ["ALTER TABLE customers_customer ALTER COLUMN search_text SET STATISTICS 1000"],
            ["ALTER TABLE customers_customer ALTER COLUMN search_text SET STATISTICS -1"],
        ),
    ]
