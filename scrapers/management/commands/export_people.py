"""`python manage.py export_people [--output FILE] [--excel]`: every monitored person as CSV, the shape
import_people reads."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scrapers.models import MonitoredPerson
from scrapers.people import csv_io as people_csv


class Command(BaseCommand):
    help = (
        "Export all monitored people as CSV ordered by name, to stdout or --output FILE: UTF-8 with a BOM "
        "(Excel shows the accents), or with --excel ';'-separated Windows-1252 as Excel writes it in Brazil."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="Write to this file instead of stdout.")
        parser.add_argument("--excel", action="store_true", help="Excel-Brazil's dialect: ';' and Windows-1252.")

    def handle(self, *args: Any, **options: Any) -> None:
        people = list(MonitoredPerson.objects.order_by("name", "pk"))
        try:
            data = people_csv.export_people(people, excel=options["excel"])
        except people_csv.CsvError as exc:
            raise CommandError(str(exc))
        if options["output"]:
            with open(options["output"], "wb") as file:
                file.write(data)
            self.stdout.write(f"exported {len(people)} person(s) to {options['output']}")
            return
        buffer = getattr(self.stdout, "buffer", None)  # a real stdout: the bytes as they are, BOM included
        if buffer is not None:
            self.stdout.flush()
            buffer.write(data)
            buffer.flush()
        else:
            self.stdout.write(data.decode("cp1252" if options["excel"] else "utf-8-sig"), ending="")
