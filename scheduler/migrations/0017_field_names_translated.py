"""Every field named in words the pages and the admin translate (verbose_name, help_text): no change to the
schema, the SQL of each operation is a no-op."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0016_run_finished_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="budget",
            name="name",
            field=models.CharField(max_length=255, primary_key=True, serialize=False, verbose_name="Name"),
        ),
        migrations.AlterField(
            model_name="budget",
            name="next_slot_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                help_text="The earliest moment the next use may go.",
                verbose_name="Next slot at",
            ),
        ),
        migrations.AlterField(
            model_name="budget",
            name="per_second",
            field=models.FloatField(
                blank=True, help_text="Empty: the default for its kind.", null=True, verbose_name="Per second"
            ),
        ),
        migrations.AlterField(
            model_name="housekeeping",
            name="every_seconds",
            field=models.FloatField(default=0, verbose_name="Every (seconds)"),
        ),
        migrations.AlterField(
            model_name="housekeeping",
            name="failures",
            field=models.PositiveBigIntegerField(default=0, verbose_name="Failures"),
        ),
        migrations.AlterField(
            model_name="housekeeping",
            name="last_error",
            field=models.TextField(blank=True, verbose_name="Last error"),
        ),
        migrations.AlterField(
            model_name="housekeeping",
            name="last_finished_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Last finished at"),
        ),
        migrations.AlterField(
            model_name="housekeeping",
            name="last_ok_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Last success at"),
        ),
        migrations.AlterField(
            model_name="housekeeping",
            name="last_result",
            field=models.JSONField(blank=True, null=True, verbose_name="Last result"),
        ),
        migrations.AlterField(
            model_name="housekeeping",
            name="last_started_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Last started at"),
        ),
        migrations.AlterField(
            model_name="housekeeping",
            name="name",
            field=models.CharField(max_length=100, primary_key=True, serialize=False, verbose_name="Name"),
        ),
        migrations.AlterField(
            model_name="housekeeping",
            name="runs",
            field=models.PositiveBigIntegerField(default=0, verbose_name="Runs"),
        ),
        migrations.AlterField(
            model_name="job",
            name="api_caller",
            field=models.CharField(blank=True, editable=False, max_length=200, verbose_name="API caller"),
        ),
        migrations.AlterField(
            model_name="job",
            name="api_digest",
            field=models.CharField(blank=True, editable=False, max_length=100, verbose_name="API digest"),
        ),
        migrations.AlterField(
            model_name="job",
            name="completed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="Completed at"),
        ),
        migrations.AlterField(
            model_name="job",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="job",
            name="last_scheduled_for",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="Last scheduled for"),
        ),
        migrations.AlterField(
            model_name="job",
            name="next_run_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="Next run at"),
        ),
        migrations.AlterField(
            model_name="job",
            name="occurrences",
            field=models.PositiveIntegerField(default=0, editable=False, verbose_name="Occurrences"),
        ),
        migrations.AlterField(
            model_name="job",
            name="owner",
            field=models.CharField(blank=True, editable=False, max_length=100, verbose_name="Owner"),
        ),
        migrations.AlterField(
            model_name="job",
            name="paused_reason",
            field=models.TextField(blank=True, editable=False, verbose_name="Pause reason"),
        ),
        migrations.AlterField(
            model_name="job",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="Updated at"),
        ),
        migrations.AlterField(
            model_name="lease",
            name="acquired_at",
            field=models.DateTimeField(null=True, verbose_name="Acquired at"),
        ),
        migrations.AlterField(
            model_name="lease",
            name="expires_at",
            field=models.DateTimeField(null=True, verbose_name="Expires at"),
        ),
        migrations.AlterField(
            model_name="lease",
            name="holder",
            field=models.CharField(blank=True, max_length=200, verbose_name="Holder"),
        ),
        migrations.AlterField(
            model_name="lease",
            name="name",
            field=models.CharField(max_length=50, primary_key=True, serialize=False, verbose_name="Name"),
        ),
        migrations.AlterField(
            model_name="lease",
            name="renewed_at",
            field=models.DateTimeField(null=True, verbose_name="Renewed at"),
        ),
        migrations.AlterField(
            model_name="run",
            name="attempt",
            field=models.PositiveSmallIntegerField(default=1, verbose_name="Attempt"),
        ),
        migrations.AlterField(
            model_name="run",
            name="cancel_requested",
            field=models.BooleanField(default=False, verbose_name="Cancel requested"),
        ),
        migrations.AlterField(
            model_name="run",
            name="due_at",
            field=models.DateTimeField(
                help_text="When this attempt may start (later than scheduled for retries).", verbose_name="Due at"
            ),
        ),
        migrations.AlterField(
            model_name="run",
            name="duration_ms",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="Duration (ms)"),
        ),
        migrations.AlterField(
            model_name="run",
            name="error",
            field=models.TextField(blank=True, verbose_name="Error"),
        ),
        migrations.AlterField(
            model_name="run",
            name="finished_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Finished at"),
        ),
        migrations.AlterField(
            model_name="run",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Heartbeat at"),
        ),
        migrations.AlterField(
            model_name="run",
            name="job",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="runs",
                to="scheduler.job",
                verbose_name="Job",
            ),
        ),
        migrations.AlterField(
            model_name="run",
            name="losses",
            field=models.PositiveSmallIntegerField(default=0, verbose_name="Worker losses"),
        ),
        migrations.AlterField(
            model_name="run",
            name="pickups",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="Times a worker picked this attempt up.", verbose_name="Pickups"
            ),
        ),
        migrations.AlterField(
            model_name="run",
            name="queued_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Queued at"),
        ),
        migrations.AlterField(
            model_name="run",
            name="result",
            field=models.JSONField(blank=True, null=True, verbose_name="Result"),
        ),
        migrations.AlterField(
            model_name="run",
            name="scheduled_for",
            field=models.DateTimeField(verbose_name="Scheduled for"),
        ),
        migrations.AlterField(
            model_name="run",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Started at"),
        ),
        migrations.AlterField(
            model_name="run",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("retrying", "Waiting to retry"),
                    ("timed_out", "Timed out"),
                    ("cancelled", "Cancelled"),
                    ("skipped", "Skipped"),
                ],
                default="queued",
                max_length=10,
                verbose_name="Status",
            ),
        ),
        migrations.AlterField(
            model_name="run",
            name="traceback",
            field=models.TextField(blank=True, verbose_name="Traceback"),
        ),
        migrations.AlterField(
            model_name="run",
            name="trigger",
            field=models.CharField(
                choices=[("schedule", "Schedule"), ("manual", "Manual"), ("retry", "Retry"), ("api", "API")],
                default="schedule",
                max_length=10,
                verbose_name="Trigger",
            ),
        ),
        migrations.AlterField(
            model_name="run",
            name="worker",
            field=models.CharField(blank=True, max_length=120, verbose_name="Worker"),
        ),
        migrations.AlterField(
            model_name="run",
            name="worker_parent",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="Worker's cluster process"),
        ),
    ]
