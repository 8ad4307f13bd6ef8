"""`bench fuzz`: the fuzz tests of every write path (tests/security/test_fuzz_*.py and the API's schemathesis
run) at a size CI cannot afford. They run under pytest, as in the suite (their own throwaway test database, the
same fixtures), each told its size by VIGIA_FUZZ_CASES and writing its figures to VIGIA_FUZZ_REPORT.

Targets: `cases` >= 20,000, `server_errors` = 0, `stored_on_refusal` = 0 (and `silent_refusals` = 0: a refusal
that does not say why)."""

import json
import os
import subprocess
import sys
import time

from scheduler.processes import MANAGE
from tests.bench import register

TESTS = [
    "tests/security/test_fuzz_web.py",
    "tests/security/test_fuzz_commands.py",
    "tests/security/test_api_fuzz.py::test_the_api_answers_every_generated_request_as_documented",
]
KEYS = ("cases", "server_errors", "stored_on_refusal", "silent_refusals")


@register("fuzz")
def fuzz(env, quick, say, log_dir):
    # Per test: 2 web + 2 command tests at `size`, and the API's operations (3) x 2 modes at size / 4 each.
    size = 1000 if quick else 5000
    report = log_dir / "fuzz.jsonl"
    env = {
        **env,
        "VIGIA_FUZZ_CASES": str(size),
        "VIGIA_FUZZ_REPORT": str(report),
        "VIGIA_TEST_DB_NAME": f"test_vigia_fuzz_{os.getpid()}",
    }
    say(f"{size} cases per fuzz test; pytest output in {log_dir / 'fuzz-pytest.log'}")
    started = time.monotonic()
    with open(log_dir / "fuzz-pytest.log", "wb") as output:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ds=config.test_settings", *TESTS]
        code = subprocess.run(command, env=env, cwd=MANAGE.parent, stdout=output, stderr=subprocess.STDOUT).returncode
    seconds = time.monotonic() - started
    lines = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    for line in lines:
        say(f"{line['test']}: " + ", ".join(f"{key} {line[key]}" for key in KEYS))
        for problem in line["problems"]:
            say(f"  {problem[:300]}")
    figures = {key: sum(line[key] for line in lines) for key in KEYS}
    figures.update(tests=len(lines), seconds=round(seconds, 1), cases_per_s=round(figures["cases"] / seconds, 1))
    figures["pytest_passed"] = code == 0
    return figures
