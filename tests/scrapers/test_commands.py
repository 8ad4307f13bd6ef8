"""Management commands: check_source, export_sources and import_sources."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.utils import timezone

from scheduler.models import Job, Run
from scrapers.models import Item, Source
from scrapers.sources.services import FIELDS
from tests.loopback.organizer import CONFIG, make_source, page
from tests.support.commands import call, call_failing

pytestmark = pytest.mark.django_db


def source_values(source):
    return {field: getattr(source, field) for field in FIELDS}


def job_values(job):
    names = ["kind", "schedule_type", "interval_seconds", "cron", "timezone", "start_at", "end_at", "enabled"]
    return {name: getattr(job, name) for name in names} | {"timeout_seconds": job.timeout_seconds}


# --- check_source ---------------------------------------------------------------------------------


def test_check_source_prints_the_items_and_stores_them(site):
    site.respond("/tarefas", body=page((1, "Tarefa 1", "a"), (2, "Tarefa 2", "b")))
    make_source(site.url + "/tarefas")

    out, _ = call("check_source", "Organizer")

    header, run_line, *lines = out.strip().splitlines()
    assert header.startswith("Checking source ") and "'Organizer' (html)" in header
    run = Run.objects.get()  # a recorded manual run of the source's job, run in the foreground
    assert run_line == f"Run {run.pk} (manual)" and (run.trigger, run.status) == ("manual", "succeeded")
    assert run.job_id == Source.objects.get().job_id
    table, rows, summary = lines[0], lines[1:3], lines[3]
    assert table.split() == ["KEY", "TITLE", "URL", "PUBLISHED"]
    assert rows[0].split() == ["1", "Tarefa", "1", site.url + "/t/1", "-"]
    assert summary.startswith("2 item(s) found (HTTP 200,") and summary.endswith(
        ": 2 new, 0 updated (first check: the baseline, not announced)"
    )
    assert Item.objects.count() == 2

    out, _ = call("check_source", str(Source.objects.get().pk))  # by id; the same page: nothing to parse
    assert out.strip().endswith("Not modified since the last check (HTTP 200).")

    site.reset()
    site.respond("/tarefas", body=page((3, "Tarefa 3", "c"), (1, "Tarefa 1", "a"), (2, "Tarefa 2", "b")))
    out, _ = call("check_source", "Organizer")
    assert "3 item(s) found (HTTP 200," in out and out.strip().endswith(": 1 new, 0 updated")


def test_check_source_queue_leaves_the_run_to_the_workers(site):
    make_source(site.url + "/tarefas")

    out, _ = call("check_source", "Organizer", "--queue")

    run = Run.objects.get()
    assert out.strip().endswith(f"Queued as run {run.pk}; the workers will pick it up.")
    assert (run.trigger, run.status) == ("manual", "queued") and not Item.objects.exists()


def test_check_source_dry_run_saves_nothing(site):
    site.respond("/tarefas", body=page((1, "Tarefa 1", "a")), headers={"ETag": '"v1"'})
    source = make_source(site.url + "/tarefas")

    out, _ = call("check_source", "Organizer", "--dry-run")

    assert "Tarefa 1" in out and out.strip().endswith("; dry run: nothing saved")
    assert not Item.objects.exists()
    after = Source.objects.get()
    assert (after.last_checked_at, after.last_success_at, after.last_item_count, after.etag) == (None, None, None, "")
    assert after.updated_at == source.updated_at
    assert not Run.objects.exists()


def test_check_source_failure_is_a_command_error_with_the_reason(site):
    site.respond("/tarefas", status=404)
    make_source(site.url + "/tarefas")

    message, _, _ = call_failing("check_source", "Organizer")

    assert message.startswith("Check of source 'Organizer' failed: ") and "404" in message
    source = Source.objects.get()
    assert source.consecutive_failures == 1 and source.last_error in message
    assert Run.objects.get().status == "failed"  # recorded, like any check


def test_check_source_for_an_unknown_source():
    message, _, _ = call_failing("check_source", "nope")
    assert message == "No source with id or name 'nope'"


# --- export and import ----------------------------------------------------------------------------


def a_variety_of_sources():
    soon = timezone.now() + timedelta(days=3)
    make_source("https://example.com/b", name="b-cron", cron="*/15 8-18 * * MON-FRI", timezone="America/Sao_Paulo")
    make_source(
        "https://example.com/a",
        name="a-window",
        active_from=soon.isoformat(),  # microseconds too
        active_until=(soon + timedelta(days=30)).isoformat(),
        headers={"Cookie": "session=1", "Accept-Language": "pt-BR"},
        user_agent="Vigia test",
        announce_first_check=True,
    )
    make_source("https://example.com/c", name="c-off", enabled=False, interval_seconds=600, method="POST")


def test_export_lists_every_form_field_ordered_by_name():
    a_variety_of_sources()

    out, _ = call("export_sources")

    sources = json.loads(out)
    assert [source["name"] for source in sources] == ["a-window", "b-cron", "c-off"]
    assert all(list(source) == FIELDS for source in sources)
    window = sources[0]
    assert window["active_from"] == Source.objects.get(name="a-window").active_from.isoformat()
    assert list(window["headers"]) == ["Accept-Language", "Cookie"] and window["config"] == CONFIG


def test_export_import_round_trip_recreates_the_sources_and_their_jobs(tmp_path):
    a_variety_of_sources()
    sources = {source.name: source_values(source) for source in Source.objects.all()}
    jobs = {source.name: job_values(source.job) for source in Source.objects.select_related("job")}
    file = tmp_path / "sources.json"
    out, _ = call("export_sources", "--output", str(file))
    assert out.strip() == f"exported 3 source(s) to {file}"
    Source.objects.all().delete()
    assert not Job.objects.exists()  # each source's job goes with it

    # Header values are exported as ******** (write-only): recreating a source needs them typed in again.
    with pytest.raises(CommandError, match="1 of 3 entries are invalid"):
        call("import_sources", str(file))
    exported = json.loads(file.read_text())
    assert exported[0]["headers"] == {"Accept-Language": "********", "Cookie": "********"}
    exported[0]["headers"] = {"Accept-Language": "pt-BR", "Cookie": "session=1"}
    typed = tmp_path / "typed.json"
    typed.write_text(json.dumps(exported, indent=2, ensure_ascii=False))

    out, _ = call("import_sources", str(typed))

    assert out.strip() == "created 3, updated 0, unchanged 0"
    assert {source.name: source_values(source) for source in Source.objects.all()} == sources
    imported = Source.objects.select_related("job")
    assert {source.name: job_values(source.job) for source in imported} == jobs
    for source in imported:
        assert source.job.kind == "check_source" and source.job.params == {"source_id": source.pk}
    assert Job.objects.get(source__name="c-off").next_run_at is None
    assert call("export_sources")[0].strip() == file.read_text().strip()


def test_import_is_idempotent_by_name():
    a_variety_of_sources()
    exported, _ = call("export_sources")
    stamps = dict(Source.objects.values_list("name", "updated_at"))
    job_stamps = dict(Job.objects.values_list("name", "updated_at"))

    assert call("import_sources", "-", stdin=exported)[0].strip() == "created 0, updated 0, unchanged 3"
    assert call("import_sources", "-", stdin=exported)[0].strip() == "created 0, updated 0, unchanged 3"
    assert dict(Source.objects.values_list("name", "updated_at")) == stamps
    assert dict(Job.objects.values_list("name", "updated_at")) == job_stamps


def test_import_updates_existing_sources_and_their_jobs():
    source = make_source("https://example.com/a", name="report")
    entries = [
        {
            "name": "report",
            "kind": "html",
            "url": "https://example.com/a",
            "config": CONFIG,
            "cron": "30 3 * * *",
            "timezone": "UTC",
        },
        {"name": "new-one", "kind": "html", "url": "https://example.com/n", "config": {"items": "li", "title": "b"}},
    ]

    out, _ = call("import_sources", "-", stdin=json.dumps(entries))

    assert out.strip() == "created 1, updated 1, unchanged 0"
    source.refresh_from_db()
    assert source.job.schedule_type == "cron" and (source.job.next_run_at.hour, source.job.next_run_at.minute) == (
        3,
        30,
    )
    new = Source.objects.get(name="new-one")
    assert new.interval_seconds == 60 and new.enabled and new.job.interval_seconds == 60  # the model's defaults


def test_one_invalid_entry_changes_nothing_and_every_error_is_named():
    existing = make_source("https://example.com/keep", name="keep")
    entries = [
        {"name": "keep", "kind": "html", "url": "https://example.com/moved", "config": CONFIG},
        {"name": "x", "kind": "html", "url": "https://example.com/x", "config": {"items": "li[", "title": "h3"}},
        {"name": "y", "kind": "nope", "url": "ftp://example.com/y", "interval_seconds": 0, "color": "red"},
        {"name": "keep", "kind": "html", "url": "https://example.com/k", "config": CONFIG},
    ]

    message, _, err = call_failing("import_sources", "-", stdin=json.dumps(entries))

    lines = err.splitlines()
    assert lines[0].startswith("entry 2 (name 'x'): config: items: "), lines
    assert "entry 3 (name 'y'): unknown field(s): color" in lines
    assert any(line.startswith("entry 3 (name 'y'): kind: Unknown kind 'nope'") for line in lines)
    assert "entry 3 (name 'y'): url: Use an http:// or https:// address." in lines
    assert "entry 4 (name 'keep'): name: repeats entry 1" in lines
    assert message == "3 of 4 entries are invalid; nothing was imported."
    assert list(Source.objects.values_list("name", "url")) == [("keep", "https://example.com/keep")]
    assert Job.objects.get().pk == existing.job_id


def test_import_dry_run_validates_only(tmp_path):
    file = tmp_path / "sources.json"
    file.write_text(json.dumps([{"name": "x", "kind": "html", "url": "https://example.com/x", "config": CONFIG}]))

    out, _ = call("import_sources", str(file), "--dry-run")

    assert out.strip() == "dry run (nothing saved): would have created 1, updated 0, unchanged 0"
    assert not Source.objects.exists() and not Job.objects.exists()


def test_import_malformed_input_is_a_clear_error():
    message, _, _ = call_failing("import_sources", "-", stdin='{"name": "x"}')
    assert message == "- must hold a JSON list of sources (as written by export_sources)."


def test_import_recreates_a_deleted_job():
    make_source("https://example.com/a", name="orphan")
    exported, _ = call("export_sources")
    # A source whose job was deleted before sources owned their jobs (now the job cannot be deleted alone).
    Source.objects.update(job=None)
    Job.objects.all().delete()

    assert call("import_sources", "-", stdin=exported)[0].strip() == "created 0, updated 1, unchanged 0"
    job = Source.objects.get().job
    assert job.kind == "check_source" and job.next_run_at is not None
