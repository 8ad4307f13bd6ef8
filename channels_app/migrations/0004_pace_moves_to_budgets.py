"""A channel's pace takes its slots from the scheduler's one budget mechanism (scheduler.shared.budgets, a Budget
named "channel:<pk>"): a slot still ahead moves there, and Channel.next_send_at is dropped. Reversible (the
column comes back, with the budget's slot where there is one)."""

from django.db import migrations
from django.utils import timezone


def into_budgets(apps, schema_editor):
    db = schema_editor.connection.alias
    Channel = apps.get_model("channels_app", "Channel")
    Budget = apps.get_model("scheduler", "Budget")
    ahead = Channel.objects.using(db).filter(pace_per_minute__isnull=False, next_send_at__gt=timezone.now())
    for pk, slot in ahead.values_list("pk", "next_send_at").iterator():
        Budget.objects.using(db).update_or_create(name=f"channel:{pk}", defaults={"next_slot_at": slot})


def back_from_budgets(apps, schema_editor):
    db = schema_editor.connection.alias
    Channel = apps.get_model("channels_app", "Channel")
    Budget = apps.get_model("scheduler", "Budget")
    budgets = Budget.objects.using(db).filter(name__startswith="channel:").values_list("name", "next_slot_at")
    for name, slot in budgets:
        pk = name.removeprefix("channel:")
        if pk.isdigit():
            Channel.objects.using(db).filter(pk=int(pk)).update(next_send_at=slot)


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0003_encrypt_channel_secrets"),
        ("scheduler", "0004_budgets_housekeeping"),
    ]

    operations = [
        migrations.RunPython(into_budgets, back_from_budgets),
        migrations.RemoveField(model_name="channel", name="next_send_at"),
    ]
