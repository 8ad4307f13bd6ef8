"""A trigram index on items' titles (PostgreSQL), so the Items page's "title contains" search covers the
whole table through an index instead of a bounded window of recent ids. Built CONCURRENTLY: a large items
table keeps taking new items while it builds. SQLite has no such index and keeps the window."""

from django.db import migrations

INDEX = "item_title_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # the database user may not create extensions: say what to do
        raise RuntimeError(
            "Vigia needs PostgreSQL's pg_trgm extension (in PostgreSQL's standard contrib modules). Run "
            "`CREATE EXTENSION pg_trgm;` in this database as its owner or a superuser, then migrate again. "
            f"The database said: {exc}"
        ) from exc
    table = schema_editor.quote_name("scrapers_item")
    # upper(title): what Django's icontains compares on PostgreSQL (UPPER("title"::text) LIKE UPPER(...)).
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON {table} USING gin (upper(title) gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scrapers", "0010_defaults_read_at_creation"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
