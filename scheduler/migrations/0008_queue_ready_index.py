"""An index on django-q2's queue table for the pusher's take (scheduler.djq.PriorityBroker._take): each
queue's rows in id order. Without it every take read and sorted the whole table: 5 ms of the database's
CPU per take with a burst of 5,000 tasks waiting, a burst's takes costing more than its runs' inserts.

django-q2's OrmQ model does not declare it; its own migrations never touch this name.
"""

from django.db import migrations

INDEX = "vigia_ormq_key_id"


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0007_run_job_no_own_index"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX {INDEX} ON django_q_ormq (key, id)",
            reverse_sql=f"DROP INDEX {INDEX}",
        ),
    ]
