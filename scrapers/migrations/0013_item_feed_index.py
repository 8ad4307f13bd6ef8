"""An index on items' (source, id), for the API's items feed of one source (scrapers.sources.api): oldest first
after a cursor, a range of this index instead of a walk along the primary key past every other source's
items. Built CONCURRENTLY on PostgreSQL: a large items table keeps taking new items while it builds."""

from django.db import migrations, models

INDEX = models.Index(fields=["source", "id"], name="item_source_feed")


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name("scrapers_item")
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX.name} ON {table} (source_id, id)")
    else:
        schema_editor.add_index(apps.get_model("scrapers", "Item"), INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
    else:
        schema_editor.remove_index(apps.get_model("scrapers", "Item"), INDEX)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scrapers", "0012_labels_translated"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop)],
            state_operations=[migrations.AddIndex(model_name="item", index=INDEX)],
        ),
    ]
