"""Customer.tag_ids: the sorted ids of the customer's tags on the customer row, so the customer
list's tags filter is one GIN-indexed condition (PostgreSQL, ``&&``) instead of a probe of the
tag links per customer. Filled for the tagged customers in one statement (the others keep the
empty list AddField gives every existing row)."""
from django.db import migrations

import fiko.id_arrays
from fiko.pg_migrations import postgres_only

FILL = {
    "postgresql": (
        "UPDATE customers_customer SET tag_ids = ARRAY(SELECT links.tag_id FROM customers_customer_tags links "
        "WHERE links.customer_id = customers_customer.id ORDER BY links.tag_id) "
        "WHERE id IN (SELECT customer_id FROM customers_customer_tags)"),
    "sqlite": (
        "UPDATE customers_customer SET tag_ids = (SELECT json_group_array(tag_id) FROM (SELECT links.tag_id "
        "FROM customers_customer_tags links WHERE links.customer_id = customers_customer.id ORDER BY links.tag_id)) "
        "WHERE id IN (SELECT customer_id FROM customers_customer_tags)"),
}


def fill(apps, schema_editor):
    schema_editor.execute(FILL[schema_editor.connection.vendor])


class Migration(migrations.Migration):
    dependencies = [("customers", "0006_activity_cover_index")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="tag_ids",
            field=fiko.id_arrays.IdArrayField(blank=True, default=list, editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        postgres_only(
            ["CREATE INDEX customer_tag_ids_gin ON customers_customer USING gin (tag_ids)"],
            ["DROP INDEX IF EXISTS customer_tag_ids_gin"],
        ),
    ]
