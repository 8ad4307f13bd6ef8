"""Indexes for the publications list, newest publication date first then id (scrapers.people.views_publications):
every page, filtered by tribunal or not, is one range of an index instead of a sort of the whole table.
Kept out of the model state like 0003's. Built CONCURRENTLY on PostgreSQL: a large publications table keeps
taking new publications while they build. SQLite's DESC already puts NULLs last."""

from django.db import migrations

INDEXES = {
    "publication_date_id": "(date DESC{nulls}, id DESC)",
    "publication_tribunal_date": "(tribunal, date DESC{nulls}, id DESC)",
}


def create(apps, schema_editor):
    table = schema_editor.quote_name("scrapers_publication")
    postgresql = schema_editor.connection.vendor == "postgresql"
    for name, columns in INDEXES.items():
        columns = columns.format(nulls=" NULLS LAST" if postgresql else "")
        concurrently = "CONCURRENTLY " if postgresql else ""
        schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {name} ON {table} {columns}")


def drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scrapers", "0014_check_not_modified"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
