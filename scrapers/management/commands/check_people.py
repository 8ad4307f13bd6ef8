"""`python manage.py check_people [--force]`: queue a cycle of people checks now (the workers run them)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from scrapers.people import services as people


class Command(BaseCommand):
    help = (
        "Queue a check_person run for every monitored person that is due, as the periodic check_people job "
        "does; --force queues every active person now, due or not. People whose previous check is still "
        "waiting or running are left out. The runs are executed by the workers (qcluster)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Queue every active person, not only the due ones.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["force"]:
            count = people.force_sync()
            self.stdout.write(f"queued {count} check(s): every active person without one already waiting")
        else:
            count = people.fan_out()
            self.stdout.write(f"queued {count} check(s) of due people")
