"""PostgreSQL: NOTIFY the scheduler leader (scheduler.wakeups) when something becomes due sooner than before.

Triggers, so every write path (the ORM, bulk_create, update(), raw SQL) is covered. Inserted jobs are
looked at once per statement (a bulk insert of 100,000 jobs calls one function, not 100,000); updates and
runs by row triggers whose WHEN clause keeps a write that cannot make anything due sooner (a run going its
way, the dispatcher advancing a job) from calling anything. The notification has no payload: identical
notifications in one transaction are delivered once. Other databases: nothing (the leader polls).
"""

from django.db import migrations

CHANNEL = "vigia_dispatch"  # scheduler.wakeups.CHANNEL

FORWARD = f"""
CREATE OR REPLACE FUNCTION vigia_dispatch_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION vigia_dispatch_notify_jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted WHERE enabled AND next_run_at IS NOT NULL) THEN
        PERFORM pg_notify('{CHANNEL}', '');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER scheduler_job_due_inserted AFTER INSERT ON scheduler_job
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
    EXECUTE FUNCTION vigia_dispatch_notify_jobs_inserted();

CREATE TRIGGER scheduler_job_due_sooner AFTER UPDATE OF next_run_at, enabled ON scheduler_job
    FOR EACH ROW WHEN (
        NEW.enabled AND NEW.next_run_at IS NOT NULL
        AND (NOT OLD.enabled OR OLD.next_run_at IS NULL OR NEW.next_run_at < OLD.next_run_at)
    )
    EXECUTE FUNCTION vigia_dispatch_notify();

CREATE TRIGGER scheduler_run_retry_inserted AFTER INSERT ON scheduler_run
    FOR EACH ROW WHEN (NEW.status = 'retrying')
    EXECUTE FUNCTION vigia_dispatch_notify();

CREATE TRIGGER scheduler_run_retry_sooner AFTER UPDATE OF status, due_at ON scheduler_run
    FOR EACH ROW WHEN (NEW.status = 'retrying' AND (OLD.status <> 'retrying' OR NEW.due_at < OLD.due_at))
    EXECUTE FUNCTION vigia_dispatch_notify();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS scheduler_run_retry_sooner ON scheduler_run;
DROP TRIGGER IF EXISTS scheduler_run_retry_inserted ON scheduler_run;
DROP TRIGGER IF EXISTS scheduler_job_due_sooner ON scheduler_job;
DROP TRIGGER IF EXISTS scheduler_job_due_inserted ON scheduler_job;
DROP FUNCTION IF EXISTS vigia_dispatch_notify_jobs_inserted();
DROP FUNCTION IF EXISTS vigia_dispatch_notify();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0004_budgets_housekeeping"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
