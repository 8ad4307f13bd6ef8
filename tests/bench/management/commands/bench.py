"""`python manage.py bench NAME [--quick]`: run a benchmark on a throwaway database.

The last line printed is one JSON object with the figures. The command re-runs itself against a
fresh database of its own (same server, name suffixed `_bench_NAME`; or data/bench_NAME.sqlite3), migrated
from scratch.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from django.core.management import CommandError
from django.core.management.base import BaseCommand

from scheduler.processes import MANAGE
from tests.bench import BENCHMARKS, database, discover

INNER = "VIGIA_BENCH_INNER"
discover()


class Command(BaseCommand):
    help = "Run a benchmark (`bench scheduler`); the last line is a JSON object of figures."

    def add_arguments(self, parser):
        parser.add_argument("name", choices=sorted(BENCHMARKS))
        parser.add_argument("--quick", action="store_true", help="A smaller version, fit for CI.")
        parser.add_argument("--keep-db", action="store_true", help="Leave the bench database for inspection.")

    def handle(self, *args, **options):
        # SIGTERM unwinds like Ctrl-C, so the processes and the database a benchmark made are cleaned up.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        if os.environ.get(INNER):
            return self._inner(options)
        url = database.bench_database_url(options["name"])
        database.recreate(url)
        try:
            env = database.env_for(url, **{INNER: "1"})
            subprocess.run([sys.executable, str(MANAGE), "migrate", "-v0"], env=env, check=True)
            args = [sys.executable, str(MANAGE), "bench", options["name"]] + (["--quick"] if options["quick"] else [])
            code = subprocess.run(args, env=env).returncode
        finally:
            if not options["keep_db"]:
                database.drop(url)
        if code:
            raise CommandError(f"benchmark {options['name']} failed (exit {code})")

    def _inner(self, options):
        def say(text):
            self.stdout.write(text)
            self.stdout.flush()

        log_dir = Path(tempfile.mkdtemp(prefix="vigia-bench-"))
        env = dict(os.environ)
        env.pop(INNER)
        say(f"bench {options['name']}{' --quick' if options['quick'] else ''} (process logs in {log_dir})")
        figures = BENCHMARKS[options["name"]](env, options["quick"], say, log_dir)
        say(json.dumps(figures))
