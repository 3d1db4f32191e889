"""Migration operations that only run on PostgreSQL (trigram GIN indexes, indexes with NULL
placement): on SQLite they do nothing, and the queries stay correct, just unindexed."""
from django.db import migrations


def postgres_only(forwards: list[str], backwards: list[str]) -> migrations.RunPython:
    def run(statements):
        def apply(apps, schema_editor):
            if schema_editor.connection.vendor != "postgresql":
                return
            for sql in statements:
                schema_editor.execute(sql)

        return apply

    return migrations.RunPython(run(forwards), run(backwards), elidable=False)
