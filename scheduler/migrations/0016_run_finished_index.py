"""An index on runs' finished_at, for the queue page's rates (runs ended in the last 5 and 15 minutes): a range of
it instead of a scan of the whole history. Built CONCURRENTLY on PostgreSQL: the runs table keeps taking writes."""

from django.db import migrations, models

INDEX = models.Index(fields=["finished_at"], name="run_finished")


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name("scheduler_run")
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX.name} ON {table} (finished_at)")
    else:
        schema_editor.add_index(apps.get_model("scheduler", "Run"), INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
    else:
        schema_editor.remove_index(apps.get_model("scheduler", "Run"), INDEX)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("scheduler", "0015_job_api_digest"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop)],
            state_operations=[migrations.AddIndex(model_name="run", index=INDEX)],
        ),
    ]
