"""`python manage.py check_person <id|name>`: check one monitored person in DJEN now, in the foreground."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from scheduler.errors import JobError
from scheduler.importing import find_by_id_or_name
from scrapers.models import MonitoredPerson, Publication
from scrapers.people import publications
from scrapers.people.brazil import normalize_name


def find_person(ref: str) -> MonitoredPerson:
    """By id or exact name, else by name as DJEN compares it (accents and case ignored) when only one matches."""
    try:
        return find_by_id_or_name(MonitoredPerson, ref, "monitored person")
    except CommandError:
        found = list(MonitoredPerson.objects.filter(normalized_name=normalize_name(ref)).order_by("pk")[:10])
        if len(found) == 1:
            return found[0]
        if found:
            ids = ", ".join(f"#{person.pk}" for person in found)
            raise CommandError(f"Several monitored people are named '{ref}' ({ids}): give the id.") from None
        raise


class Command(BaseCommand):
    help = (
        "Check one monitored person (id or name) in DJEN now, in the foreground, and print what was found: the "
        "date window, requests, items returned, matched, and each publication matched for the first time. "
        "New matches are stored and announced as a scheduled check would."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("person", help="The person's id or name.")

    def handle(self, *args: Any, **options: Any) -> None:
        person = find_person(options["person"])
        self.stdout.write(f"Checking person {person.pk} '{person.name}' in DJEN ({settings.VIGIA_DJEN_URL})")
        try:
            outcome = publications.check_person(person)
        except JobError as exc:
            raise CommandError(f"Check of '{person.name}' failed: {exc}")
        summary = outcome.summary()
        start, end = summary["window"]
        self.stdout.write(
            f"Window {start} to {end}: {summary['requests']} request(s), {summary['returned']} item(s) returned, "
            f"{summary['matched']} matched, {summary['new']} new"
        )
        if outcome.truncated:
            self.stdout.write("DJEN had more items than it serves per query: some were not read.")
        for publication in Publication.objects.filter(pk__in=outcome.new).order_by("date", "pk"):
            date = publication.date.isoformat() if publication.date else "-"
            number = publication.process_number_masked or publication.process_number or "-"
            kind = publication.communication_type or "-"
            self.stdout.write(f"  {date}  {publication.tribunal or '-'}  {number}  {kind}")
