"""A source remembers its last check's own outcome (found/new/updated, unchanged since, or its error) and when
its page last changed, so a 304 reads "unchanged since <time> (N items)" rather than "0 found"."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scrapers", "0013_item_feed_index")]

    operations = [
        migrations.AddField(
            model_name="source",
            name="last_changed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="source",
            name="last_check",
            field=models.JSONField(blank=True, default=dict, editable=False),
        ),
    ]
