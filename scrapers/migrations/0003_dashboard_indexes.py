"""Indexes for the dashboard's lists, kept out of the model state (no Meta change in scrapers.models, and
makemigrations stays clean):

- people page by (normalized_name, id): the list's order and its keyset cursor;
- on PostgreSQL, a trigram index on UPPER(text) serves the publications search (Django's icontains is
  UPPER(text) LIKE UPPER('%word%')). pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may
  create it. Where it cannot be created, the search still works, scanning instead.
"""

import logging

from django.db import DatabaseError, migrations, transaction

log = logging.getLogger("vigia")


def add_text_search(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            schema_editor.execute(
                "CREATE INDEX IF NOT EXISTS publication_text_trgm ON scrapers_publication "
                "USING gin (UPPER(text) gin_trgm_ops)"
            )
    except DatabaseError as exc:
        log.warning("publication text search index not created (pg_trgm unavailable): %s", exc)


def drop_text_search(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS publication_text_trgm")


class Migration(migrations.Migration):
    dependencies = [("scrapers", "0002_people_and_publications")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS person_by_name ON scrapers_monitoredperson (normalized_name, id);",
            reverse_sql="DROP INDEX IF EXISTS person_by_name;",
            elidable=False,
        ),
        migrations.RunPython(add_text_search, drop_text_search, elidable=False),
    ]
