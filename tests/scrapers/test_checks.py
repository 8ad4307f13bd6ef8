"""Checking sources end to end against a real loopback site: every item once, revisions, health, events."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from channels_app.models import Event
from scheduler import services
from scheduler.errors import JobError
from scheduler.execution import execute_run
from scheduler.models import Job
from scrapers.models import Item, ItemRevision, Source
from scrapers.sources import checks
from scrapers.sources.services import SourceForm
from tests.loopback import organizer
from tests.loopback.organizer import CONFIG, page

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(monkeypatch, django_capture_on_commit_callbacks):
    """What the checks publish (the channels app delivers them; here we only look)."""
    published = []

    def publish(topic, event, key=None, also=()):
        published.append((" + ".join([topic, *also]), event))  # one event, heard on every topic named

    monkeypatch.setattr(checks, "publish", publish)
    return published


def make_source(site, **fields):
    fields.setdefault("timezone", "America/Sao_Paulo")
    return organizer.make_source(site.url + "/tarefas", **fields)


def check(source, **kwargs):
    source.refresh_from_db()
    return checks.check_source(source, **kwargs)


def test_first_check_is_the_baseline_then_only_new_items_are_announced(
    site, events, django_capture_on_commit_callbacks
):
    site.respond("/tarefas", body=page((1, "Tarefa 1", "Traga um guarda-chuva"), (2, "Tarefa 2", "Cante")))
    source = make_source(site)
    with django_capture_on_commit_callbacks(execute=True):
        first = check(source)
    assert first.summary()["found"] == 2 and len(first.new) == 2
    assert events == []  # the items already on the page when monitoring starts are the baseline
    item = Item.objects.get(source=source, key="1")
    assert item.url == site.url + "/t/1" and item.title == "Tarefa 1"

    site.reset()
    site.respond(
        "/tarefas",
        body=page((3, "Tarefa 3", "Nova!"), (1, "Tarefa 1", "Traga um guarda-chuva"), (2, "Tarefa 2", "Cante")),
    )
    with django_capture_on_commit_callbacks(execute=True):
        second = check(source)
    assert len(second.new) == 1 and second.updated == []
    assert Item.objects.filter(source=source).count() == 3
    assert [(topic, event["type"], event["title"]) for topic, event in events] == [
        (f"source:{source.pk}", "item.new", "Tarefa 3")
    ]


def test_announce_first_check(site, events, django_capture_on_commit_callbacks):
    site.respond("/tarefas", body=page((1, "A", "a")))
    source = make_source(site, announce_first_check=True)
    with django_capture_on_commit_callbacks(execute=True):
        check(source)
    assert [event["type"] for _, event in events] == ["item.new"]


def test_an_amended_item_keeps_its_previous_version(site, events, django_capture_on_commit_callbacks):
    site.respond("/tarefas", body=page((7, "Tarefa 7", "Até 14h")))
    source = make_source(site)
    check(source)
    site.reset()
    site.respond("/tarefas", body=page((7, "Tarefa 7", "Até 15h (prorrogada)")))
    with django_capture_on_commit_callbacks(execute=True):
        outcome = check(source)
    item = Item.objects.get(source=source, key="7")
    assert outcome.updated == [item.pk] and item.body == "Até 15h (prorrogada)" and item.revisions_count == 1
    (revision,) = ItemRevision.objects.filter(item=item)
    assert revision.body == "Até 14h"
    assert [event["type"] for _, event in events] == ["item.updated"]
    check(source)  # unchanged: no new revision
    assert ItemRevision.objects.filter(item=item).count() == 1


def test_items_without_ids_are_keyed_by_link_then_by_content(site):
    site.respond(
        "/tarefas",
        body="<ul><li class='task'><h3>Com link</h3><a href='/x'>x</a></li>"
        "<li class='task'><h3>Sem link</h3><p>texto</p></li></ul>",
    )
    source = make_source(site, config={"items": "li.task", "title": "h3", "body": "p"})
    check(source)
    keys = sorted(Item.objects.filter(source=source).values_list("key", flat=True))
    assert keys[0] == site.url + "/x" and keys[1].startswith("sha256:")
    check(source)
    assert Item.objects.filter(source=source).count() == 2


def test_conditional_get_304_ends_as_unchanged_without_parsing(site):
    site.respond("/tarefas", body=page((1, "A", "a")), headers={"ETag": '"v1"'})
    site.respond("/tarefas", status=304, headers={"ETag": '"v1"'})
    source = make_source(site)
    check(source)
    outcome = check(source)
    assert outcome.status == "unchanged"
    assert site.requests[1].headers.get("if-none-match") == '"v1"'
    source.refresh_from_db()
    assert source.last_item_count == 1 and source.consecutive_failures == 0


def test_the_same_page_again_is_unchanged_until_the_page_or_the_configuration_changes(site):
    site.respond("/tarefas", body=page((1, "A", "a"), (2, "B", "b")))  # no validators, as most organizers
    source = make_source(site)
    check(source)
    seen = Item.objects.get(source=source, key="1").last_seen

    again = check(source)

    assert again.status == "unchanged" and again.items == [] and again.http_status == 200
    assert Item.objects.get(source=source, key="1").last_seen == seen  # nothing parsed nor stored, as for a 304
    source.refresh_from_db()
    assert source.last_item_count == 2 and source.last_success_at > seen and source.consecutive_failures == 0

    Source.objects.filter(pk=source.pk).update(config={**CONFIG, "body": "h3"})  # the same page read otherwise
    assert check(source).status == "checked"
    assert Item.objects.get(source=source, key="1").body == "A"

    site.reset()
    site.respond("/tarefas", body=page((3, "C", "c"), (1, "A", "a"), (2, "B", "b")))
    changed = check(source)
    assert changed.status == "checked" and len(changed.new) == 1


def test_zero_items_where_there_were_some_is_a_visible_failure(site):
    site.respond("/tarefas", body=page((1, "A", "a"), (2, "B", "b")))
    site.respond("/tarefas", body="<html><body><div class='redesign'>novo layout</div></body></html>")
    source = make_source(site)
    check(source)
    with pytest.raises(JobError, match="Selectors may be broken: 0 items where the last check found 2"):
        check(source)
    source.refresh_from_db()
    assert source.consecutive_failures == 1 and "Selectors may be broken" in source.last_error
    assert Item.objects.filter(source=source).count() == 2  # nothing deleted


def test_broken_and_recovered_are_announced_once(site, django_capture_on_commit_callbacks, settings):
    settings.VIGIA_SOURCE_BROKEN_AFTER = 2
    site.respond("/tarefas", status=404)
    source = make_source(site)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            with pytest.raises(JobError, match="404"):
                check(source)
    source.refresh_from_db()
    assert source.broken and source.consecutive_failures == 4
    site.reset()
    site.respond("/tarefas", body=page((1, "A", "a")))
    with django_capture_on_commit_callbacks(execute=True):
        check(source)
        check(source)
    source.refresh_from_db()
    assert not source.broken and source.consecutive_failures == 0 and source.last_error == ""
    # recorded as events (channels_app.alerts publishes them on source:<id>, heard on sources:broken too)
    health = list(Event.objects.filter(type__startswith="source.").order_by("pk").values_list("topic", "type"))
    assert health == [(f"source:{source.pk}", "source.broken"), (f"source:{source.pk}", "source.recovered")]


def test_outside_the_active_window_nothing_is_fetched(site):
    site.respond("/tarefas", body=page((1, "A", "a")))
    later = timezone.now() + timedelta(days=1)
    source = make_source(site, active_from=later.isoformat(), active_until=(later + timedelta(days=3)).isoformat())
    assert check(source).status == "inactive"
    assert site.requests == []
    job = source.job
    job.refresh_from_db()
    assert job.start_at == source.active_from and job.next_run_at >= later  # the scheduler waits for it too


def test_dry_run_saves_nothing(site):
    site.respond("/tarefas", body=page((1, "A", "a")), headers={"ETag": '"v1"'})
    source = make_source(site)
    outcome = check(source, dry_run=True)
    assert [item.title for item in outcome.items] == ["A"]
    source.refresh_from_db()
    assert not Item.objects.exists() and source.last_checked_at is None and source.etag == ""


def test_source_has_a_check_source_job_that_follows_it(site):
    source = make_source(site, interval_seconds=45)
    job = Job.objects.get(pk=source.job_id)
    assert (job.kind, job.params, job.schedule_type, job.interval_seconds, job.queue) == (
        "check_source",
        {"source_id": source.pk},
        "interval",
        45,
        "high",
    )
    form = SourceForm(
        instance=source, data={**SourceForm(instance=source).initial, "cron": "*/2 * * * *", "enabled": False}
    )
    assert form.is_valid(), form.errors
    form.save()
    job.refresh_from_db()
    assert job.schedule_type == "cron" and job.cron == "*/2 * * * *" and not job.enabled
    source.delete()
    assert not Job.objects.filter(pk=job.pk).exists()


def test_the_job_kind_runs_the_check_and_records_failures_on_the_run(site):
    site.respond("/tarefas", body=page((1, "A", "a")))
    source = make_source(site)
    run = services.run_now(source.job)
    assert execute_run(run.id) == "succeeded"
    run.refresh_from_db()
    assert run.result["found"] == 1 and run.result["new"] == 1
    site.reset()
    site.respond("/tarefas", body="not a list at all", headers={"Content-Type": "text/html"})
    run = services.run_now(source.job)
    assert execute_run(run.id) == "failed"
    run.refresh_from_db()
    assert "Selectors may be broken" in run.error
    assert Item.objects.filter(source=source).count() == 1


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"config": {"items": "li[", "title": "h3"}}, "config"),
        ({"config": {}}, "config"),
        ({"kind": "nope"}, "kind"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"headers": {"X": 1}}, "headers"),
    ],
)
def test_bad_input_is_a_field_error_and_saves_nothing(site, overrides, field):
    data = {
        "name": "Bad",
        "kind": "html",
        "url": site.url + "/tarefas",
        "config": CONFIG,
        "method": "GET",
        "timeout_seconds": 5,
        "interval_seconds": 30,
        "timezone": "UTC",
        "enabled": True,
        **overrides,
    }
    form = SourceForm(data=data)
    assert not form.is_valid()
    assert field in form.errors, form.errors
    assert not Source.objects.exists() and not Job.objects.exists()


def test_preview_shows_what_a_configuration_extracts(site):
    site.respond("/tarefas", body=page((1, "A", "a"), (2, "B", "b")))
    outcome = checks.preview(site.url + "/tarefas", "html", CONFIG)
    assert [(item.key, item.title) for item in outcome.items] == [("1", "A"), ("2", "B")]
    assert not Item.objects.exists()


def test_an_edit_saved_after_a_check_keeps_the_checks_health(site):
    site.respond("/tarefas", body=page((1, "A", "a")), headers={"ETag": '"v1"'})
    source = make_source(site)
    stale = Source.objects.get(pk=source.pk)  # an operator opens the edit page...
    check(source)  # ...a check finishes meanwhile...
    form = SourceForm(instance=stale, data={**SourceForm(instance=stale).initial, "interval_seconds": 90})
    assert form.is_valid(), form.errors
    form.save()  # ...and the operator saves
    source.refresh_from_db()
    assert source.interval_seconds == 90
    assert source.last_success_at is not None and source.last_item_count == 1 and source.etag == '"v1"'


def test_naive_dates_on_the_page_are_read_in_the_sources_zone(site):
    site.respond(
        "/tarefas",
        body="<ul><li class='task' data-id='1'><h3>A</h3><time>22/11/2026 14:30</time></li></ul>",
    )
    config = {**CONFIG, "date": "time"}
    lisbon = make_source(site, name="Lisboa", config=config, timezone="Europe/Lisbon")
    sao_paulo = make_source(site, name="São Paulo", config=config, timezone="America/Sao_Paulo")
    check(lisbon)
    check(sao_paulo)
    assert Item.objects.get(source=lisbon).published_at == datetime(2026, 11, 22, 14, 30, tzinfo=UTC)  # WET = UTC
    assert Item.objects.get(source=sao_paulo).published_at == datetime(2026, 11, 22, 17, 30, tzinfo=UTC)  # UTC−3
