"""Every field named in words the pages and the admin translate (verbose_name, help_text): no change to the
schema, the SQL of each operation is a no-op."""

import django.db.models.deletion
import django.utils.timezone
import scheduler.models
import scheduler.shared.bounds
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0017_field_names_translated"),
        ("scrapers", "0015_publication_date_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="item",
            name="body",
            field=models.TextField(blank=True, verbose_name="Body"),
        ),
        migrations.AlterField(
            model_name="item",
            name="content_hash",
            field=models.CharField(max_length=64, verbose_name="Content hash"),
        ),
        migrations.AlterField(
            model_name="item",
            name="first_seen",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="First seen"),
        ),
        migrations.AlterField(
            model_name="item",
            name="key",
            field=models.CharField(max_length=500, verbose_name="Key"),
        ),
        migrations.AlterField(
            model_name="item",
            name="last_seen",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="Last seen"),
        ),
        migrations.AlterField(
            model_name="item",
            name="published_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Published at"),
        ),
        migrations.AlterField(
            model_name="item",
            name="raw",
            field=models.JSONField(blank=True, default=dict, verbose_name="Raw data"),
        ),
        migrations.AlterField(
            model_name="item",
            name="revisions_count",
            field=models.PositiveIntegerField(default=0, verbose_name="Revisions"),
        ),
        migrations.AlterField(
            model_name="item",
            name="source",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="items",
                to="scrapers.source",
                verbose_name="Source",
            ),
        ),
        migrations.AlterField(
            model_name="item",
            name="title",
            field=models.TextField(blank=True, verbose_name="Title"),
        ),
        migrations.AlterField(
            model_name="item",
            name="url",
            field=models.URLField(blank=True, max_length=2000, verbose_name="URL"),
        ),
        migrations.AlterField(
            model_name="itemrevision",
            name="body",
            field=models.TextField(blank=True, verbose_name="Body"),
        ),
        migrations.AlterField(
            model_name="itemrevision",
            name="content_hash",
            field=models.CharField(max_length=64, verbose_name="Content hash"),
        ),
        migrations.AlterField(
            model_name="itemrevision",
            name="item",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="revisions",
                to="scrapers.item",
                verbose_name="Item",
            ),
        ),
        migrations.AlterField(
            model_name="itemrevision",
            name="published_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Published at"),
        ),
        migrations.AlterField(
            model_name="itemrevision",
            name="raw",
            field=models.JSONField(blank=True, default=dict, verbose_name="Raw data"),
        ),
        migrations.AlterField(
            model_name="itemrevision",
            name="replaced_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="Replaced at"),
        ),
        migrations.AlterField(
            model_name="itemrevision",
            name="title",
            field=models.TextField(blank=True, verbose_name="Title"),
        ),
        migrations.AlterField(
            model_name="itemrevision",
            name="url",
            field=models.URLField(blank=True, max_length=2000, verbose_name="URL"),
        ),
        migrations.AlterField(
            model_name="itemrevision",
            name="valid_from",
            field=models.DateTimeField(help_text="When this version was first seen.", verbose_name="Valid from"),
        ),
        migrations.AlterField(
            model_name="monitoredperson",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="monitoredperson",
            name="first_check",
            field=models.CharField(
                choices=[("pending", "pending"), ("done", "done"), ("failed", "failed")],
                default="pending",
                max_length=10,
                verbose_name="First check",
            ),
        ),
        migrations.AlterField(
            model_name="monitoredperson",
            name="job",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="person",
                to="scheduler.job",
                verbose_name="Job",
            ),
        ),
        migrations.AlterField(
            model_name="monitoredperson",
            name="last_checked_at",
            field=models.DateTimeField(
                blank=True, help_text="The last check, successful or not.", null=True, verbose_name="Last checked at"
            ),
        ),
        migrations.AlterField(
            model_name="monitoredperson",
            name="last_error",
            field=models.TextField(blank=True, verbose_name="Last error"),
        ),
        migrations.AlterField(
            model_name="monitoredperson",
            name="last_success_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Last success at"),
        ),
        migrations.AlterField(
            model_name="monitoredperson",
            name="next_check_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True, verbose_name="Next check at"),
        ),
        migrations.AlterField(
            model_name="monitoredperson",
            name="normalized_name",
            field=models.CharField(
                editable=False, help_text="No accents, case-folded.", max_length=200, verbose_name="Normalized name"
            ),
        ),
        migrations.AlterField(
            model_name="monitoredperson",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="Updated at"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="done",
            field=models.PositiveIntegerField(default=0, verbose_name="Done"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="dry_run",
            field=models.BooleanField(default=False, verbose_name="Dry run"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="error",
            field=models.TextField(blank=True, verbose_name="Error"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="file_name",
            field=models.CharField(
                blank=True, help_text="The uploaded file's name (import).", max_length=255, verbose_name="File name"
            ),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="finished_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Finished at"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="job",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="people_transfer",
                to="scheduler.job",
                verbose_name="Job",
            ),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="kind",
            field=models.CharField(
                choices=[("import", "Import"), ("export", "Export")], max_length=10, verbose_name="Kind"
            ),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="options",
            field=models.JSONField(blank=True, default=dict, verbose_name="Options"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="report",
            field=models.JSONField(blank=True, null=True, verbose_name="Report"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="result",
            field=models.BinaryField(null=True, verbose_name="Result"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="total",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="Total"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="upload",
            field=models.BinaryField(null=True, verbose_name="Uploaded file"),
        ),
        migrations.AlterField(
            model_name="peopletransfer",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="User",
            ),
        ),
        migrations.AlterField(
            model_name="publication",
            name="class_code",
            field=models.CharField(blank=True, max_length=30, verbose_name="Class code"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="class_name",
            field=models.CharField(blank=True, max_length=300, verbose_name="Class"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="communication_type",
            field=models.CharField(blank=True, max_length=200, verbose_name="Communication type"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="date",
            field=models.DateField(
                blank=True, help_text="Made available (data_disponibilizacao).", null=True, verbose_name="Date"
            ),
        ),
        migrations.AlterField(
            model_name="publication",
            name="djen_id",
            field=models.BigIntegerField(unique=True, verbose_name="DJEN id"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="document_type",
            field=models.CharField(blank=True, max_length=200, verbose_name="Document type"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="first_seen",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="First seen"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="hash",
            field=models.CharField(blank=True, max_length=100, verbose_name="Hash"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="lawyers",
            field=models.JSONField(blank=True, default=list, verbose_name="Lawyers"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="link",
            field=models.URLField(blank=True, max_length=2000, verbose_name="Link"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="medium",
            field=models.CharField(blank=True, help_text="D journal, E edict.", max_length=5, verbose_name="Medium"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="number",
            field=models.CharField(blank=True, max_length=50, verbose_name="Number"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="organ",
            field=models.CharField(blank=True, max_length=500, verbose_name="Organ"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="people",
            field=models.ManyToManyField(
                related_name="publications",
                through="scrapers.PublicationMatch",
                to="scrapers.monitoredperson",
                verbose_name="People",
            ),
        ),
        migrations.AlterField(
            model_name="publication",
            name="process_number",
            field=models.CharField(blank=True, db_index=True, max_length=30, verbose_name="Process number"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="process_number_masked",
            field=models.CharField(blank=True, max_length=40, verbose_name="Process number (formatted)"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="recipients",
            field=models.JSONField(blank=True, default=list, verbose_name="Recipients"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="text",
            field=models.TextField(blank=True, help_text="Plain text (DJEN's HTML stripped).", verbose_name="Text"),
        ),
        migrations.AlterField(
            model_name="publication",
            name="tribunal",
            field=models.CharField(blank=True, max_length=30, verbose_name="Tribunal"),
        ),
        migrations.AlterField(
            model_name="publicationmatch",
            name="how",
            field=models.CharField(
                choices=[("name", "Named as a recipient"), ("oab", "Lawyer's OAB"), ("text", "Named in the text")],
                max_length=5,
                verbose_name="How",
            ),
        ),
        migrations.AlterField(
            model_name="publicationmatch",
            name="matched_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="Matched at"),
        ),
        migrations.AlterField(
            model_name="publicationmatch",
            name="person",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="matches",
                to="scrapers.monitoredperson",
                verbose_name="Person",
            ),
        ),
        migrations.AlterField(
            model_name="publicationmatch",
            name="publication",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="matches",
                to="scrapers.publication",
                verbose_name="Publication",
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="active_from",
            field=models.DateTimeField(
                blank=True, null=True, validators=[scheduler.shared.bounds.check_date], verbose_name="Active from"
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="active_until",
            field=models.DateTimeField(
                blank=True, null=True, validators=[scheduler.shared.bounds.check_date], verbose_name="Active until"
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="announce_first_check",
            field=models.BooleanField(
                default=False,
                help_text="Announce the items the first check finds (otherwise they are the baseline).",
                verbose_name="Announce the first check",
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="broken",
            field=models.BooleanField(
                default=False, help_text="Raised after repeated failures; cleared on success.", verbose_name="Broken"
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="config",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Validated by the kind (selectors, paths...).",
                verbose_name="Settings",
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="consecutive_failures",
            field=models.PositiveIntegerField(default=0, verbose_name="Consecutive failures"),
        ),
        migrations.AlterField(
            model_name="source",
            name="content_fingerprint",
            field=models.CharField(blank=True, editable=False, max_length=64, verbose_name="Content fingerprint"),
        ),
        migrations.AlterField(
            model_name="source",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="source",
            name="cron",
            field=models.CharField(
                blank=True,
                help_text="Instead of the interval, when set.",
                max_length=200,
                verbose_name="Cron expression",
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="enabled",
            field=models.BooleanField(default=True, verbose_name="Enabled"),
        ),
        migrations.AlterField(
            model_name="source",
            name="etag",
            field=models.CharField(blank=True, max_length=500, verbose_name="ETag"),
        ),
        migrations.AlterField(
            model_name="source",
            name="headers",
            field=models.JSONField(blank=True, default=dict, verbose_name="Headers"),
        ),
        migrations.AlterField(
            model_name="source",
            name="interval_seconds",
            field=models.PositiveIntegerField(blank=True, default=60, null=True, verbose_name="Interval (seconds)"),
        ),
        migrations.AlterField(
            model_name="source",
            name="job",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="source",
                to="scheduler.job",
                verbose_name="Job",
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="kind",
            field=models.CharField(
                help_text="A scraper kind: html, json, feed, page_watch, ...", max_length=50, verbose_name="Kind"
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="last_changed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="Last changed at"),
        ),
        migrations.AlterField(
            model_name="source",
            name="last_check",
            field=models.JSONField(blank=True, default=dict, editable=False, verbose_name="Last check"),
        ),
        migrations.AlterField(
            model_name="source",
            name="last_checked_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Last checked at"),
        ),
        migrations.AlterField(
            model_name="source",
            name="last_error",
            field=models.TextField(blank=True, verbose_name="Last error"),
        ),
        migrations.AlterField(
            model_name="source",
            name="last_error_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Last error at"),
        ),
        migrations.AlterField(
            model_name="source",
            name="last_item_count",
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name="Items in the last check"),
        ),
        migrations.AlterField(
            model_name="source",
            name="last_modified",
            field=models.CharField(blank=True, max_length=100, verbose_name="Last-Modified"),
        ),
        migrations.AlterField(
            model_name="source",
            name="last_success_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Last success at"),
        ),
        migrations.AlterField(
            model_name="source",
            name="method",
            field=models.CharField(
                choices=[("GET", "GET"), ("POST", "POST")], default="GET", max_length=6, verbose_name="Method"
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="name",
            field=models.CharField(max_length=200, unique=True, verbose_name="Name"),
        ),
        migrations.AlterField(
            model_name="source",
            name="timeout_seconds",
            field=models.FloatField(default=15, verbose_name="Timeout (seconds)"),
        ),
        migrations.AlterField(
            model_name="source",
            name="timezone",
            field=models.CharField(default=scheduler.models.default_timezone, max_length=64, verbose_name="Time zone"),
        ),
        migrations.AlterField(
            model_name="source",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="Updated at"),
        ),
        migrations.AlterField(
            model_name="source",
            name="url",
            field=models.URLField(max_length=2000, verbose_name="URL"),
        ),
        migrations.AlterField(
            model_name="source",
            name="user_agent",
            field=models.CharField(
                blank=True, help_text="Empty: Vigia's identifying agent.", max_length=300, verbose_name="User agent"
            ),
        ),
    ]
