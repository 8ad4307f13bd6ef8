"""Log lines carry the ids of what they are about, in text and in JSON."""

import json
import logging

import pytest

from scheduler import services
from scheduler.execution import execute_run
from scheduler.logs import JsonFormatter, TextFormatter
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
