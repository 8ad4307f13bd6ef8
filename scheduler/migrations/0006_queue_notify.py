"""PostgreSQL: NOTIFY the clusters' pushers (scheduler.djq) when a task is queued or put back on the queue,
so an idle cluster waits for work instead of looking at the table many times a second.

One notification per INSERT statement (a dispatch batch of thousands of tasks calls one function), and one
when a row's lock moves earlier (a task a cluster took and could not hold, put back). Taking a task moves
its lock later and notifies nobody. Other databases: nothing (the pushers poll).
"""

from django.db import migrations

CHANNEL = "vigia_queue"  # scheduler.wakeups.QUEUE_CHANNEL

FORWARD = f"""
CREATE OR REPLACE FUNCTION vigia_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END $$;

CREATE TRIGGER vigia_queue_inserted AFTER INSERT ON django_q_ormq
    FOR EACH STATEMENT EXECUTE FUNCTION vigia_queue_notify();

CREATE TRIGGER vigia_queue_put_back AFTER UPDATE OF lock ON django_q_ormq
    FOR EACH ROW WHEN (NEW.lock < OLD.lock) EXECUTE FUNCTION vigia_queue_notify();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS vigia_queue_put_back ON django_q_ormq;
DROP TRIGGER IF EXISTS vigia_queue_inserted ON django_q_ormq;
DROP FUNCTION IF EXISTS vigia_queue_notify();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0005_dispatch_notify"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
