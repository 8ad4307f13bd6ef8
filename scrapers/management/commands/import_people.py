"""`python manage.py import_people FILE.csv [--dry-run]`: create or update monitored people from a CSV."""

import sys
from collections.abc import Callable
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scrapers.people import csv_io as people_csv

BAR_FROM = 500  # rows from which a progress bar is drawn
BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Create or update monitored people from a CSV file ('-': standard input) with a header row and the "
        f"columns {', '.join(people_csv.COLUMNS)} (or their Portuguese names: nome, cpf/cnpj, tribunais, "
        "monitorar_ate, destinatarios, observacoes). UTF-8 (with or without BOM) or Excel's ';'-separated "
        "Windows-1252. A person already monitored (same name and CPF/CNPJ) is updated with the file's columns; "
        "new people get their first check queued. Bad rows are reported (line, column, reason) and skipped; "
        "the good ones are imported. Exits non-zero only when the file cannot be read or every row was rejected."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file, or - for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report only; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        data = self.read(options["file"], options.get("stdin") or sys.stdin)
        try:
            report = people_csv.import_people(data, dry_run=options["dry_run"], progress=self.progress(options))
        except people_csv.CsvError as exc:
            raise CommandError(str(exc))
        for problem in report.problems:
            self.stderr.write(str(problem))
        summary = report.summary()
        self.stdout.write(f"dry run (nothing saved): would have {summary}" if options["dry_run"] else summary)
        if report.rows and report.rejected == report.rows:
            raise CommandError("Every row was rejected; nothing was imported.")

    def read(self, path: str, stdin: TextIO) -> bytes | str:
        if path == "-":
            return stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
        try:
            with open(path, "rb") as file:
                return file.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}")

    def progress(self, options: dict[str, Any]) -> Callable[[int, int], None] | None:
        if options["verbosity"] == 0:
            return None

        def draw(done: int, total: int) -> None:
            if total < BAR_FROM:
                return
            filled = BAR_WIDTH * done // total
            bar = f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} rows"
            self.stderr.write(bar, ending="\n" if done == total else "")
            self.stderr.flush()

        return draw
