"""Management commands: run_job, jobs, export_jobs and import_jobs."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from scheduler import services
from scheduler.forms import FIELDS
from scheduler.models import Job, Run
from tests.support.commands import call, call_failing
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db


def job_values(job):
    return {field: getattr(job, field) for field in FIELDS}


# --- run_job --------------------------------------------------------------------------------------


def test_run_job_by_name_runs_it_in_the_foreground():
    job = make_job(name="ping", kind="noop")

    out, _ = call("run_job", "ping")

    run = Run.objects.get(job=job)
    assert run.trigger == "manual" and run.status == "succeeded"
    assert "Status:   succeeded" in out and 'Result:   {"ok": true}' in out and "Duration:" in out


def test_run_job_by_id():
    job = make_job(kind="noop")
    out, _ = call("run_job", str(job.pk))
    assert "succeeded" in out and Run.objects.get(job=job).status == "succeeded"


def test_a_failed_run_is_a_command_error_and_shows_the_error_and_the_retry():
    make_job(name="flaky", kind="test_fail", params={"failures": 1}, max_attempts=2)

    message, out, _ = call_failing("run_job", "flaky")

    assert "failed" in message and "planned failure 1" in message
    assert "Status:   failed" in out and "Error:    planned failure 1" in out
    assert 'Result:   {"attempt": 1}' in out
    assert "Retry:    attempt 2" in out


def test_a_crash_shows_the_traceback():
    make_job(name="buggy", kind="test_crash")
    message, out, _ = call_failing("run_job", "buggy")
    assert "ZeroDivisionError" in message and "Traceback" in out


def test_run_job_for_an_unknown_job():
    message, _, _ = call_failing("run_job", "nope")
    assert message == "No job with id or name 'nope'"
    assert Run.objects.count() == 0


# --- jobs -----------------------------------------------------------------------------------------


def test_jobs_table_shows_state_next_run_in_local_time_and_last_status(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"
    daily = make_job(name="daily", schedule_type="cron", cron="0 9 * * *", timezone="UTC")
    paused = make_job(name="paused-one")
    services.pause([paused])
    run = services.run_now(daily)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.TIMED_OUT)

    out, _ = call("jobs")

    header, *rows, footer = out.strip().splitlines()
    assert header.split()[:4] == ["ID", "NAME", "KIND", "SCHEDULE"]
    assert [row.split()[1] for row in rows] == ["daily", "paused-one"]
    assert "0 9 * * * (UTC)" in rows[0] and " 06:00:00 " in rows[0] and "timed_out" in rows[0]
    assert "paused" in rows[1]
    assert footer == "2 job(s); times in America/Sao_Paulo"


def test_jobs_json_in_another_zone():
    make_job(name="daily", schedule_type="cron", cron="0 9 * * *", timezone="UTC")

    out, _ = call("jobs", "--json", "--tz", "Asia/Tokyo")

    [row] = json.loads(out)
    assert row["name"] == "daily" and row["state"] == "enabled" and row["last_status"] is None
    assert row["next_run"].endswith("T18:00:00+09:00")


def test_jobs_rejects_an_unknown_zone():
    message, _, _ = call_failing("jobs", "--tz", "Mars/Base")
    assert "Unknown time zone 'Mars/Base'" in message


# --- export and import ----------------------------------------------------------------------------


def a_variety_of_jobs():
    soon = timezone.now() + timedelta(days=3)
    make_job(
        name="c-cron", schedule_type="cron", cron="*/15 8-18 * * MON-FRI", timezone="America/Sao_Paulo", max_attempts=3
    )
    make_job(name="a-interval", interval_seconds=90, start_at=soon, end_at=soon + timedelta(days=30), queue="high")
    make_job(name="b-once", schedule_type="once", run_at=soon, timeout_seconds=30)  # run_at has microseconds
    make_job(
        name="d-hook",
        kind="http_request",
        params={"url": "https://example.com/hook", "method": "POST", "json": {"a": [1, 2]}},
        external_service="crm",
        external_key="hook-1",
        misfire_policy="all",
        backoff_jitter=0.25,
    )
    services.pause([make_job(name="e-paused", max_occurrences=10)])


def test_export_lists_every_form_field_ordered_by_name():
    a_variety_of_jobs()

    out, _ = call("export_jobs")

    jobs = json.loads(out)
    assert [job["name"] for job in jobs] == ["a-interval", "b-once", "c-cron", "d-hook", "e-paused"]
    assert all(list(job) == FIELDS for job in jobs)
    once = jobs[1]
    assert datetime.fromisoformat(once["run_at"]) == Job.objects.get(name="b-once").run_at


def test_export_import_round_trip_recreates_identical_jobs(tmp_path):
    a_variety_of_jobs()
    before = {job.name: job_values(job) for job in Job.objects.all()}
    file = tmp_path / "jobs.json"
    out, _ = call("export_jobs", "--output", str(file))
    assert out.strip() == f"exported 5 job(s) to {file}"
    Job.objects.all().delete()

    out, _ = call("import_jobs", str(file))

    assert out.strip() == "created 5, updated 0, unchanged 0"
    assert {job.name: job_values(job) for job in Job.objects.all()} == before
    assert Job.objects.get(name="e-paused").next_run_at is None
    assert Job.objects.get(name="c-cron").next_run_at > timezone.now()
    assert call("export_jobs")[0].strip() == file.read_text().strip()


def test_import_is_idempotent_by_name(tmp_path):
    a_variety_of_jobs()
    exported, _ = call("export_jobs")
    stamps = dict(Job.objects.values_list("name", "updated_at"))

    assert call("import_jobs", "-", stdin=exported)[0].strip() == "created 0, updated 0, unchanged 5"
    assert call("import_jobs", "-", stdin=exported)[0].strip() == "created 0, updated 0, unchanged 5"
    assert dict(Job.objects.values_list("name", "updated_at")) == stamps


def test_import_updates_changed_jobs_and_recomputes_their_schedule():
    job = make_job(name="report", schedule_type="cron", cron="0 * * * *", timezone="UTC")
    entries = [
        {"name": "report", "kind": "noop", "schedule_type": "cron", "cron": "30 3 * * *", "timezone": "UTC"},
        {"name": "new-one", "kind": "noop", "schedule_type": "interval", "interval_seconds": 10},
    ]

    out, _ = call("import_jobs", "-", stdin=json.dumps(entries))

    assert out.strip() == "created 1, updated 1, unchanged 0"
    job.refresh_from_db()
    assert (job.next_run_at.hour, job.next_run_at.minute) == (3, 30)
    assert Job.objects.get(name="new-one").next_run_at is not None


def test_missing_optional_fields_take_the_model_defaults(settings):
    entry = {"name": "minimal", "kind": "noop", "schedule_type": "interval", "interval_seconds": 60}

    call("import_jobs", "-", stdin=json.dumps([entry]))

    job = Job.objects.get(name="minimal")
    assert job.enabled and job.queue == "default" and job.timeout_seconds == 300 and job.params == {}
    assert job.timezone == settings.TIME_ZONE and job.external_service is None
    assert job.next_run_at is not None


def test_one_invalid_entry_changes_nothing_and_is_named_with_its_field():
    existing = make_job(name="keep", queue="default")
    entries = [
        {"name": "keep", "kind": "noop", "schedule_type": "interval", "interval_seconds": 60, "queue": "high"},
        {"name": "fine", "kind": "noop", "schedule_type": "interval", "interval_seconds": 60},
        {"name": "broken", "kind": "noop", "schedule_type": "cron", "cron": "61 * * * *", "timezone": "UTC"},
    ]

    message, out, err = call_failing("import_jobs", "-", stdin=json.dumps(entries))

    assert err.splitlines() == [
        "entry 3 (name 'broken'): cron: The minute field '61' is not valid (allowed 0–59).",
    ]
    assert message == "1 of 3 entries are invalid; nothing was imported."
    assert list(Job.objects.values_list("name", "queue")) == [("keep", "default")]
    existing.refresh_from_db()
    assert existing.queue == "default"


def test_every_problem_of_every_entry_is_reported():
    past = datetime(2001, 1, 1, tzinfo=UTC).isoformat()
    entries = [
        {"name": "a", "kind": "noop", "schedule_type": "interval", "interval_seconds": 0, "timezone": "Nowhere"},
        {"name": "b", "kind": "http_request", "params": {"url": "ftp://x"}, "schedule_type": "once", "run_at": past},
        {"name": "a", "kind": "noop", "schedule_type": "interval", "interval_seconds": 5, "crn": "* * * * *"},
        ["not", "a", "job"],
    ]

    _, _, err = call_failing("import_jobs", "-", stdin=json.dumps(entries))

    assert err.splitlines() == [
        "entry 1 (name 'a'): timezone: Unknown time zone 'Nowhere'. Use an IANA name such as America/Sao_Paulo.",
        "entry 1 (name 'a'): interval_seconds: Between 1 and 316224000 seconds.",
        "entry 2 (name 'b'): params: url: Enter an http:// or https:// URL with a host.",
        "entry 2 (name 'b'): run_at: This time is in the past.",
        "entry 3 (name 'a'): unknown field(s): crn",
        "entry 3 (name 'a'): name: repeats entry 1",
        "entry 4: expected a JSON object",
    ]
    assert Job.objects.count() == 0


def test_dry_run_validates_only(tmp_path):
    file = tmp_path / "jobs.json"
    file.write_text(json.dumps([{"name": "x", "kind": "noop", "schedule_type": "interval", "interval_seconds": 5}]))

    out, _ = call("import_jobs", str(file), "--dry-run")

    assert out.strip() == "dry run (nothing saved): would have created 1, updated 0, unchanged 0"
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[{"name": "x",]', "Standard input is not valid JSON: Expecting property name"),
        ('{"name": "x"}', "must hold a JSON list of jobs"),
    ],
)
def test_malformed_input_is_a_clear_error(text, expected):
    message, _, _ = call_failing("import_jobs", "-", stdin=text)
    assert expected in message
    assert Job.objects.count() == 0


def test_a_missing_file_is_a_clear_error(tmp_path):
    message, _, _ = call_failing("import_jobs", str(tmp_path / "nope.json"))
    assert message.startswith("Cannot read") and "No such file" in message
