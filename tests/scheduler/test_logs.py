"""Log lines carry the ids of what they are about, in text and in JSON, and never a secret."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler import services
from scheduler.execution import execute_run
from scheduler.shared import logs
from scheduler.shared.logs import (
    JsonFormatter,
    LogContextFilter,
    RedactSecretsFilter,
    TextFormatter,
    log_context,
    remember_secrets,
)
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db


def test_run_finished_line_names_the_run_and_job(caplog):
    job = make_job(kind="noop")
    run = services.run_now(job)
    with caplog.at_level(logging.INFO, logger="vigia.runs"):
        execute_run(run.id)
    (record,) = [r for r in caplog.records if r.getMessage() == "run finished"]

    text = TextFormatter("%(levelname)s %(message)s").format(record)
    assert text.startswith("INFO run finished ")
    assert f"run={run.id}" in text and f"job={job.id}" in text and "status=succeeded" in text

    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "run finished"
    assert (entry["run"], entry["job"], entry["status"]) == (run.id, job.id, "succeeded")


# --- one JSON line per event, ids from the context, secrets masked (the console handler's filters) ---

SECRETS = ("tok-in-query-1", "sekrit-bearer-2", "wuz-header-3", "dbpass-4", "hunter22-5", "pw-in-exc-6", "chan-7777")
_LOGGING_SCRIPT = """
import logging
import django
django.setup()
from scheduler.shared.logs import log_context, remember_secrets
remember_secrets(["chan-7777"])  # a channel secret, as the code decrypting it would register it
log = logging.getLogger("vigia.test")
with log_context(run=41, job=7):
    log.warning(
        "calling %s with %s",
        "https://api.example/x?page=2&token=tok-in-query-1",
        {"Authorization": "Bearer sekrit-bearer-2", "Token": "wuz-header-3"},
        extra={"source": 5, "password": "hunter22-5", "db": "postgres://vigia:dbpass-4@db.example/vigia"},
    )
    try:
        raise ValueError("login failed for password=pw-in-exc-6 using chan-7777")
    except ValueError:
        log.exception("source check crashed", extra={"source": 5})
"""


def _logged(log_format):
    """What a real process prints with the project's logging settings."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.test_settings", VIGIA_LOG_FORMAT=log_format)
    done = subprocess.run(
        [sys.executable, "-c", _LOGGING_SCRIPT],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_json_lines_carry_context_ids_and_tracebacks_on_one_line_with_secrets_masked():
    lines = _logged("json").splitlines()
    assert len(lines) == 2  # the traceback did not spill onto lines of its own
    call, crash = (json.loads(line) for line in lines)
    assert (call["run"], call["job"], call["source"]) == (41, 7, 5)
    assert call["message"].startswith("calling https://api.example/x?page=2&token=*** with ")
    assert call["password"] == "***"
    assert call["db"] == "postgres://vigia:***@db.example/vigia"
    assert (crash["message"], crash["source"], crash["run"]) == ("source check crashed", 5, 41)
    assert "Traceback (most recent call last)" in crash["exception"]
    assert "ValueError: login failed for password=*** using ***" in crash["exception"]
    for secret in SECRETS:
        assert secret not in "\n".join(lines)


def test_text_lines_keep_the_ids_on_the_event_line_with_secrets_masked():
    output = _logged("text")
    first = output.splitlines()[0]
    assert "WARNING vigia.test calling https://api.example/x?page=2&token=*** with " in first
    assert "'Authorization': 'Bearer ***'" in first and "'Token': '***'" in first
    assert "run=41 job=7" in first and "source=5" in first and "password=***" in first
    crash = output[output.index("source check crashed") :]
    assert crash.splitlines()[0].endswith("source=5 run=41 job=7")
    assert "ValueError: login failed for password=*** using ***" in crash
    for secret in SECRETS:
        assert secret not in output


def test_an_explicit_id_wins_over_the_context_and_the_context_ends_with_its_block():
    def record(**extra):
        entry = logging.LogRecord("vigia.test", logging.INFO, __file__, 1, "event", (), None)
        entry.__dict__.update(extra)
        LogContextFilter().filter(entry)
        RedactSecretsFilter().filter(entry)
        return json.loads(JsonFormatter().format(entry))

    with log_context(run=1, job=2), log_context(delivery=3):
        inside = record(run=99)
    assert (inside["run"], inside["job"], inside["delivery"]) == (99, 2, 3)
    assert "run" not in record() and "delivery" not in record()


def test_remembered_secret_values_are_masked_but_short_ones_are_ignored():
    remember_secrets(["abc", "remembered-secret-value"])
    entry = logging.LogRecord(
        "vigia.test", logging.INFO, __file__, 1, "sent with %s, abc", ("remembered-secret-value",), None
    )
    RedactSecretsFilter().filter(entry)
    assert entry.getMessage() == "sent with ***, abc"


def test_remembered_values_stay_bounded_and_the_newest_stay_masked():
    # A login session renewed on every answer is decrypted, and so remembered, on every check.
    remember_secrets(["remembered-first-value"])
    remember_secrets(f"session-cookie-{n:06d}" for n in range(logs.MAX_KNOWN + 10))
    remember_secrets(["remembered-last-value"])

    assert len(logs._known) == logs.MAX_KNOWN
    text = (
        "remembered-first-value session-cookie-000000 remembered-last-value " + f"session-cookie-{logs.MAX_KNOWN:06d}"
    )
    assert logs.redact(text) == "remembered-first-value session-cookie-000000 *** ***"
