"""Every field named in words the pages and the admin translate (verbose_name, help_text): no change to the
schema, the SQL of each operation is a no-op."""

import channels_app.fields
import django.db.models.deletion
import django.utils.timezone
import scheduler.shared.bounds
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0010_callbacks"),
        ("scheduler", "0017_field_names_translated"),
    ]

    operations = [
        migrations.AlterField(
            model_name="apitoken",
            name="addresses",
            field=models.JSONField(blank=True, default=list, verbose_name="Addresses"),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="callback_secret",
            field=channels_app.fields.EncryptedJSONField(
                blank=True, default=dict, editable=False, verbose_name="Callback secret"
            ),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="channels",
            field=models.JSONField(blank=True, default=list, verbose_name="Channels"),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="digest",
            field=models.CharField(editable=False, max_length=64, unique=True, verbose_name="Digest"),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(
                blank=True, null=True, validators=[scheduler.shared.bounds.check_date], verbose_name="Expires at"
            ),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="last_used_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="Last used at"),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="name",
            field=models.CharField(
                help_text="Which client or service holds it.", max_length=100, unique=True, verbose_name="Name"
            ),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="prefix",
            field=models.CharField(
                editable=False, help_text="The token's start, to recognize it.", max_length=12, verbose_name="Prefix"
            ),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="rate_per_minute",
            field=models.PositiveIntegerField(
                blank=True, help_text="Empty: VIGIA_API_RATE_PER_MINUTE.", null=True, verbose_name="Requests per minute"
            ),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="revoked_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Revoked at"),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="scopes",
            field=models.JSONField(blank=True, default=list, verbose_name="Scopes"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0, verbose_name="Attempts"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="body",
            field=models.JSONField(
                help_text="The status document, as it was when the subject ended.", verbose_name="Body"
            ),
        ),
        migrations.AlterField(
            model_name="callback",
            name="caller",
            field=models.CharField(blank=True, max_length=200, verbose_name="Caller"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Claimed at"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="error",
            field=models.TextField(blank=True, verbose_name="Error"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="last_status_code",
            field=models.PositiveSmallIntegerField(blank=True, null=True, verbose_name="Last status code"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Next attempt"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Sent at"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="signed",
            field=models.BooleanField(
                help_text="Whether the last attempt was signed (its caller had a secret).",
                null=True,
                verbose_name="Signed",
            ),
        ),
        migrations.AlterField(
            model_name="callback",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("retrying", "Waiting to retry"),
                    ("failed", "Failed (permanent error)"),
                    ("dead", "Dead (retries exhausted)"),
                ],
                default="pending",
                max_length=10,
                verbose_name="Status",
            ),
        ),
        migrations.AlterField(
            model_name="callback",
            name="subject",
            field=models.CharField(
                help_text="What it tells of: run:12, message:5.", max_length=100, unique=True, verbose_name="Subject"
            ),
        ),
        migrations.AlterField(
            model_name="callback",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="Updated at"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="url",
            field=models.URLField(max_length=2000, verbose_name="URL"),
        ),
        migrations.AlterField(
            model_name="callback",
            name="worker",
            field=models.CharField(blank=True, max_length=120, verbose_name="Worker"),
        ),
        migrations.AlterField(
            model_name="channel",
            name="config",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Settings that may be shown (URLs, sender).",
                verbose_name="Settings",
            ),
        ),
        migrations.AlterField(
            model_name="channel",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="channel",
            name="down_reason",
            field=models.CharField(blank=True, editable=False, max_length=500, verbose_name="Why down"),
        ),
        migrations.AlterField(
            model_name="channel",
            name="down_since",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="Down since"),
        ),
        migrations.AlterField(
            model_name="channel",
            name="enabled",
            field=models.BooleanField(default=True, verbose_name="Enabled"),
        ),
        migrations.AlterField(
            model_name="channel",
            name="kind",
            field=models.CharField(
                help_text="wuzapi, email, webhook, apprise or outbox.", max_length=30, verbose_name="Kind"
            ),
        ),
        migrations.AlterField(
            model_name="channel",
            name="name",
            field=models.CharField(max_length=100, unique=True, verbose_name="Name"),
        ),
        migrations.AlterField(
            model_name="channel",
            name="pace_per_minute",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="At most this many messages a minute, across every worker. Empty: no limit.",
                null=True,
                verbose_name="Messages per minute",
            ),
        ),
        migrations.AlterField(
            model_name="channel",
            name="secrets",
            field=channels_app.fields.EncryptedJSONField(
                blank=True, default=dict, editable=False, verbose_name="Secrets"
            ),
        ),
        migrations.AlterField(
            model_name="channel",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="Updated at"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0, verbose_name="Attempts"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="body",
            field=models.TextField(
                help_text="As rendered when the event was published: every attempt sends the same.", verbose_name="Body"
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="claimed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Claimed at"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="error",
            field=models.TextField(blank=True, verbose_name="Error"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="event",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="deliveries",
                to="channels_app.event",
                verbose_name="Event",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Next attempt"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="provider_id",
            field=models.CharField(blank=True, max_length=300, verbose_name="Provider id"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="recipient",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="deliveries",
                to="channels_app.recipient",
                verbose_name="Recipient",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="Sent at"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("retrying", "Waiting to retry"),
                    ("failed", "Failed (permanent error)"),
                    ("dead", "Dead (retries exhausted)"),
                    ("cancelled", "Cancelled"),
                ],
                default="pending",
                max_length=10,
                verbose_name="Status",
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="subject",
            field=models.CharField(blank=True, max_length=300, verbose_name="Subject"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="template_error",
            field=models.CharField(blank=True, max_length=500, verbose_name="Template error"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="Updated at"),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="worker",
            field=models.CharField(blank=True, max_length=120, verbose_name="Worker"),
        ),
        migrations.AlterField(
            model_name="event",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="event",
            name="key",
            field=models.CharField(blank=True, max_length=200, null=True, unique=True, verbose_name="Key"),
        ),
        migrations.AlterField(
            model_name="event",
            name="payload",
            field=models.JSONField(default=dict, verbose_name="Payload"),
        ),
        migrations.AlterField(
            model_name="event",
            name="topic",
            field=models.CharField(max_length=200, verbose_name="Topic"),
        ),
        migrations.AlterField(
            model_name="event",
            name="type",
            field=models.CharField(max_length=50, verbose_name="Type"),
        ),
        migrations.AlterField(
            model_name="message",
            name="body",
            field=models.TextField(blank=True, verbose_name="Body"),
        ),
        migrations.AlterField(
            model_name="message",
            name="callback_status",
            field=models.CharField(blank=True, max_length=100, verbose_name="Callback status"),
        ),
        migrations.AlterField(
            model_name="message",
            name="callback_url",
            field=models.URLField(blank=True, max_length=2000, verbose_name="Callback URL"),
        ),
        migrations.AlterField(
            model_name="message",
            name="caller",
            field=models.CharField(blank=True, editable=False, max_length=200, verbose_name="Caller"),
        ),
        migrations.AlterField(
            model_name="message",
            name="channel",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="messages",
                to="channels_app.channel",
                verbose_name="Channel",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="message",
            name="delivery",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="message",
                to="channels_app.delivery",
                verbose_name="Delivery",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="error",
            field=models.TextField(blank=True, verbose_name="Error"),
        ),
        migrations.AlterField(
            model_name="message",
            name="job",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="api_message",
                to="scheduler.job",
                verbose_name="Job",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="key",
            field=models.CharField(max_length=200, verbose_name="Key"),
        ),
        migrations.AlterField(
            model_name="message",
            name="params",
            field=models.JSONField(blank=True, default=list, verbose_name="Parameters"),
        ),
        migrations.AlterField(
            model_name="message",
            name="send_at",
            field=models.DateTimeField(validators=[scheduler.shared.bounds.check_date], verbose_name="Send at"),
        ),
        migrations.AlterField(
            model_name="message",
            name="service",
            field=models.CharField(max_length=100, verbose_name="Service"),
        ),
        migrations.AlterField(
            model_name="message",
            name="status",
            field=models.CharField(
                choices=[
                    ("scheduled", "Scheduled"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                default="scheduled",
                max_length=10,
                verbose_name="Status",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="template",
            field=models.CharField(blank=True, max_length=50, verbose_name="Template"),
        ),
        migrations.AlterField(
            model_name="message",
            name="to",
            field=models.CharField(blank=True, max_length=300, verbose_name="To"),
        ),
        migrations.AlterField(
            model_name="message",
            name="token",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="messages",
                to="channels_app.apitoken",
                verbose_name="Token",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="Updated at"),
        ),
        migrations.AlterField(
            model_name="messagetemplate",
            name="body",
            field=models.TextField(verbose_name="Body"),
        ),
        migrations.AlterField(
            model_name="messagetemplate",
            name="name",
            field=models.CharField(
                help_text="An event type (item.new…) or a template name.",
                max_length=50,
                unique=True,
                verbose_name="Name",
            ),
        ),
        migrations.AlterField(
            model_name="messagetemplate",
            name="subject",
            field=models.CharField(
                blank=True,
                help_text="E-mail subject and title (a template too).",
                max_length=300,
                verbose_name="Subject",
            ),
        ),
        migrations.AlterField(
            model_name="messagetemplate",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="Updated at"),
        ),
        migrations.AlterField(
            model_name="recipient",
            name="active",
            field=models.BooleanField(default=True, verbose_name="Active"),
        ),
        migrations.AlterField(
            model_name="recipient",
            name="address",
            field=models.CharField(
                blank=True,
                help_text="Phone, group JID, e-mail; empty for some.",
                max_length=300,
                verbose_name="Address",
            ),
        ),
        migrations.AlterField(
            model_name="recipient",
            name="channel",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="recipients",
                to="channels_app.channel",
                verbose_name="Channel",
            ),
        ),
        migrations.AlterField(
            model_name="recipient",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="recipient",
            name="label",
            field=models.CharField(blank=True, max_length=200, verbose_name="Label"),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="Created at"),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="event_types",
            field=models.JSONField(
                blank=True, default=list, help_text="Empty: every event type.", verbose_name="Event types"
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="recipient",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="subscriptions",
                to="channels_app.recipient",
                verbose_name="Recipient",
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="topic",
            field=models.CharField(db_index=True, max_length=200, verbose_name="Topic"),
        ),
    ]
