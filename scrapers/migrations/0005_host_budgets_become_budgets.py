"""The per-host rate limit moves onto the scheduler's one budget mechanism (scheduler.shared.budgets): every
HostBudget row becomes a Budget named "host:<host>" with its rate and next slot, the table is dropped, and
HostBudget stays as a proxy of Budget for the admin's *Host budgets* page (same content type and
permissions). Reversible: going back copies the "host:" budgets into a HostBudget table again."""

from django.db import migrations

PREFIX = "host:"


def into_budgets(apps, schema_editor):
    db = schema_editor.connection.alias
    HostBudget = apps.get_model("scrapers", "HostBudget")
    Budget = apps.get_model("scheduler", "Budget")
    for old in HostBudget.objects.using(db).iterator():
        Budget.objects.using(db).update_or_create(
            name=PREFIX + old.host.lower(),
            defaults={"per_second": old.rate_per_second, "next_slot_at": old.next_slot_at},
        )


def back_from_budgets(apps, schema_editor):
    db = schema_editor.connection.alias
    HostBudget = apps.get_model("scrapers", "HostBudget")
    Budget = apps.get_model("scheduler", "Budget")
    for budget in Budget.objects.using(db).filter(name__startswith=PREFIX).iterator():
        HostBudget.objects.using(db).update_or_create(
            host=budget.name.removeprefix(PREFIX)[:255],
            defaults={"rate_per_second": budget.per_second, "next_slot_at": budget.next_slot_at},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduler", "0004_budgets_housekeeping"),
        ("scrapers", "0004_source_owns_its_job"),
    ]

    operations = [
        migrations.RunPython(into_budgets, back_from_budgets),
        migrations.DeleteModel(name="HostBudget"),
        migrations.CreateModel(
            name="HostBudget",
            fields=[],
            options={
                "verbose_name": "host budget",
                "verbose_name_plural": "host budgets",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("scheduler.budget",),
        ),
    ]
