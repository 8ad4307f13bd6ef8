"""Every operator command, with hostile arguments and hostile files: each ends in its output or in a
CommandError that says what is wrong (Django prints it, without a traceback, and exits 1); never in any other
exception. The importers are all-or-nothing: a refused file stores nothing."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security import fuzz, world
from tests.support.factories import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# (command, how many positional arguments it takes, its options). Long-running commands (up, qcluster,
# scheduler, bench) and the demo are left out; check_source/check_person would reach out to the network.
COMMANDS = [
    ("create_api_token", 1, []),
    ("send_test", 2, []),
    ("run_job", 1, []),
    ("jobs", 0, ["--tz"]),
    ("export_jobs", 0, ["--output"]),
    ("export_people", 0, ["--output"]),
    ("check_people", 0, []),
]
IMPORTERS = ["import_jobs", "import_sources", "import_people"]
FUZZ = settings(
    max_examples=fuzz.cases(300),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _run(tally, name, *args):
    """Run one case; True when the command refused it (CommandError), False when it completed."""
    tally.cases += 1
    try:
        call_command(name, *args, stdout=io.StringIO(), stderr=io.StringIO())
    except CommandError:
        return True
    except Exception as exc:  # the case fails: anything else is a crash with a traceback
        tally.server_errors += 1
        tally.record(f"{name} {[arg[:40] for arg in args]!r}: {type(exc).__name__}: {str(exc)[:120]}")
    return False


def test_hostile_arguments_end_in_output_or_a_command_error(tmp_path):
    make_job(kind="noop")
    tally = fuzz.Tally()

    @FUZZ
    @given(data=st.data())
    def run(data):
        name, positional, options = data.draw(st.sampled_from(COMMANDS))
        args = [data.draw(fuzz.hostile_text) for _ in range(positional)]
        chosen = {}
        for option in options:
            if data.draw(st.booleans()):
                value = data.draw(fuzz.hostile_text)
                chosen[option] = str(tmp_path / "out") if option == "--output" and value else value
        args += [part for option, value in chosen.items() for part in (option, value)]
        _run(tally, name, *[arg.replace("\x00", "") for arg in args])  # a NUL cannot be in a real argv

    try:
        run()
    finally:
        tally.report("command arguments")
    assert tally.problems == [], "\n".join(sorted(set(tally.problems))[:40])


def test_hostile_files_are_refused_whole_by_every_importer(tmp_path):
    tally = fuzz.Tally()

    @FUZZ
    @given(name=st.sampled_from(IMPORTERS), content=st.one_of(fuzz.hostile_csv, fuzz.hostile_text.map(str.encode)))
    def run(name, content):
        before = world.snapshot()
        path = tmp_path / "input"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        if _run(tally, name, str(path)) and world.snapshot() != before:
            tally.stored_on_refusal += 1
            tally.record(f"{name} refused {content[:80]!r} but stored")

    try:
        run()
    finally:
        tally.report("importer files")
    assert tally.problems == [], "\n".join(sorted(set(tally.problems))[:40])
