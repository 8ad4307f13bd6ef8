"""A source has one schedule, its check_source job, and the source owns it (issue 5).

Pausing from the source (dashboard, admin) or from the job (Jobs pages, admin) is one pause: both flags
end up equal, and a later save of the source does not undo it. The job cannot be deleted on its own (Jobs
page, admin, ORM); deleting the source deletes it. "Check now" queues a recorded manual run everywhere.
The job's schedule is edited on the source only.
"""

import importlib
import re

import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.db.models import ProtectedError
from django.urls import reverse
from django_q.models import OrmQ

from scheduler import services
from scheduler.models import Job, Run
from scrapers.models import Source
from scrapers.sources import checks
from scrapers.sources.services import SourceForm
from tests.loopback.organizer import CONFIG, make_source

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
JOBS_ADMIN = reverse("admin:scheduler_job_changelist")
SOURCES_ADMIN = reverse("admin:scrapers_source_changelist")


def source(name="Organizer", **fields):
    return make_source("https://example.com/tarefas", name=name, **fields)


def fresh(obj):
    obj.refresh_from_db()
    return obj


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def editor_data(found, **changes):
    """What the dashboard's source editor posts for `found` as stored (an unticked checkbox is not sent)."""
    data = {
        "name": found.name,
        "kind": found.kind,
        "url": found.url,
        "config": '{"items": "li.task", "title": "h3", "link": "a@href", "body": "p", "id": "@data-id"}',
        "method": found.method,
        "headers": "{}",
        "timeout_seconds": str(found.timeout_seconds),
        "interval_seconds": str(found.interval_seconds or ""),
        "cron": found.cron,
        "timezone": found.timezone,
        "enabled": "on" if found.enabled else None,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def save_on_dashboard(client, found, **changes):
    return client.post(reverse("scrapers:source", args=[found.pk]), editor_data(found, **changes))


def job_action(client, job, action):
    return client.post(reverse(f"scheduler:{action}", args=[job.pk]))


def assert_paused(found):
    found = fresh(found)
    job = Job.objects.get(pk=found.job_id)
    assert (found.enabled, job.enabled, job.next_run_at) == (False, False, None)


def assert_running(found):
    found = fresh(found)
    job = Job.objects.get(pk=found.job_id)
    assert found.enabled and job.enabled and job.next_run_at is not None


# --- the job knows its owner ----------------------------------------------------------------------------


def test_the_source_job_names_its_owner():
    found = source()
    assert found.job.owner == f"source:{found.pk}" and found.job.kind == "check_source"


# --- one pause ---------------------------------------------------------------------------------------------


def test_a_pause_on_the_jobs_page_survives_a_save_of_the_source(staff_client):
    found = source()

    job_action(staff_client, found.job, "job_pause")
    assert_paused(found)  # the source paused with its job, in the same request

    editor = staff_client.get(reverse("scrapers:source", args=[found.pk])).content.decode()
    assert 'name="enabled" id="id_enabled" checked' not in editor  # the editor shows it paused
    response = save_on_dashboard(staff_client, fresh(found), interval_seconds="120")  # as the editor shows it

    assert response.status_code == 302
    assert_paused(found)
    assert Job.objects.get(pk=found.job_id).interval_seconds == 120  # the edit itself went through


def test_a_pause_in_the_jobs_admin_survives_a_save_of_the_source_in_its_admin(admin_client):
    found = source()
    admin_client.post(JOBS_ADMIN, {"action": "pause", "_selected_action": [found.job_id]})
    assert_paused(found)

    change = reverse("admin:scrapers_source_change", args=[found.pk])
    data = editor_data(fresh(found), interval_seconds="90")
    data.update(active_from_0="", active_from_1="", active_until_0="", active_until_1="", user_agent="")
    response = admin_client.post(change, {**data, "_save": "Save"})

    assert response.status_code == 302
    assert_paused(found)


def test_a_save_that_does_not_touch_enabled_keeps_a_pause_the_source_missed():
    # e.g. the scheduler paused the job directly (a schedule it cannot plan) and the source still says enabled
    found = source()
    Job.objects.filter(pk=found.job_id).update(enabled=False, next_run_at=None)
    form = SourceForm(data={**editor_data(found, cron="0 * * * *"), "config": CONFIG}, instance=fresh(found))
    assert form.is_valid(), form.errors

    form.save()

    assert_paused(found)  # the source follows its job instead of undoing the pause


def test_pausing_the_source_pauses_its_job(staff_client, admin_client):
    on_dashboard, in_admin = source("A"), source("B")

    save_on_dashboard(staff_client, on_dashboard, enabled=None)
    admin_client.post(SOURCES_ADMIN, {"action": "disable", "_selected_action": [in_admin.pk]})

    assert_paused(on_dashboard)
    assert_paused(in_admin)


@pytest.mark.parametrize("where", ["jobs page", "jobs admin", "source editor", "sources admin"])
def test_resuming_from_either_side_resumes_both(where, staff_client, admin_client):
    found = source()
    services.pause([found.job])
    assert_paused(found)

    if where == "jobs page":
        job_action(staff_client, found.job, "job_resume")
    elif where == "jobs admin":
        admin_client.post(JOBS_ADMIN, {"action": "resume", "_selected_action": [found.job_id]})
    elif where == "source editor":
        save_on_dashboard(staff_client, fresh(found), enabled="on")
    else:
        admin_client.post(SOURCES_ADMIN, {"action": "enable", "_selected_action": [found.pk]})

    assert_running(found)


def test_a_pause_with_a_reason_shows_on_the_source_page(staff_client):
    found = source()
    services.pause([found.job], reason="Paused: unknown time zone 'Mars/Base'")
    assert_paused(found)

    page = staff_client.get(reverse("scrapers:source", args=[found.pk])).content.decode()
    assert "Paused: unknown time zone &#x27;Mars/Base&#x27;" in page

    services.resume([found.job])
    assert_running(found)
    assert Job.objects.get(pk=found.job_id).paused_reason == ""


# --- the job goes with its source, never alone ---------------------------------------------------------


def add_run(job):
    return services.run_now(job, enqueue=False)


def assert_untouched(found, runs=1):
    found = fresh(found)
    assert Job.objects.filter(pk=found.job_id, owner=f"source:{found.pk}").exists()
    assert Run.objects.filter(job_id=found.job_id).count() == runs


def test_the_jobs_page_refuses_to_delete_a_source_job(staff_client):
    found = source()
    add_run(found.job)

    response = staff_client.post(reverse("scheduler:job_delete", args=[found.job_id]), **HTMX)

    assert response["HX-Redirect"] == reverse("scheduler:job", args=[found.job_id])
    assert "This job belongs to source “Organizer”: delete the source instead." in messages_of(response)
    assert_untouched(found)


def test_the_jobs_page_hides_delete_and_duplicate_and_names_the_owner(staff_client):
    found = source()
    page = staff_client.get(reverse("scheduler:job", args=[found.job_id])).content.decode()
    assert reverse("scheduler:job_delete", args=[found.job_id]) not in page
    assert reverse("scheduler:job_duplicate", args=[found.job_id]) not in page
    assert f'<a href="{reverse("scrapers:source", args=[found.pk])}">source “Organizer”</a>' in page


def test_the_jobs_page_refuses_to_copy_a_source_job(staff_client):
    found = source()
    response = staff_client.post(reverse("scheduler:job_duplicate", args=[found.job_id]))
    assert response["Location"] == reverse("scheduler:job", args=[found.job_id])
    assert any("cannot be copied" in note for note in messages_of(response))
    assert Job.objects.count() == 1


def test_the_jobs_admin_refuses_to_delete_a_source_job(admin_client):
    found = source()
    add_run(found.job)
    delete = reverse("admin:scheduler_job_delete", args=[found.job_id])
    change = reverse("admin:scheduler_job_change", args=[found.job_id])

    assert reverse("admin:scheduler_job_delete", args=[found.job_id]) not in admin_client.get(change).content.decode()
    for response in (admin_client.get(delete), admin_client.post(delete, {"post": "yes"})):
        assert response.status_code == 302 and response.url == change
        assert "This job belongs to source “Organizer”: delete the source instead." in messages_of(response)
    assert_untouched(found)


def test_the_jobs_admin_bulk_delete_refuses_source_jobs_and_deletes_nothing(admin_client):
    found = source()
    add_run(found.job)
    other = Job.objects.create(name="plain", kind="noop", schedule_type="manual")
    selected = {"action": "delete_selected", "_selected_action": [found.job_id, other.pk]}

    for data in (selected, {**selected, "post": "yes"}):
        response = admin_client.post(JOBS_ADMIN, data)
        assert response.status_code == 200
        assert "This job belongs to source “Organizer”: delete the source instead." in response.content.decode()
    assert_untouched(found)
    assert Job.objects.filter(pk=other.pk).exists()  # all or nothing


def test_the_orm_refuses_to_delete_a_source_job():
    found = source()
    add_run(found.job)

    with pytest.raises(ProtectedError):
        Job.objects.get(pk=found.job_id).delete()
    with pytest.raises(ProtectedError):
        Job.objects.filter(pk=found.job_id).delete()
    with pytest.raises(services.OwnedJob, match="delete the source instead"):
        services.delete([found.job])
    assert_untouched(found)


def test_deleting_the_source_deletes_its_job_and_runs(admin_client):
    kept, by_orm, in_bulk, in_admin = source("kept"), source("orm"), source("bulk"), source("admin")
    for found in (by_orm, in_bulk, in_admin):
        add_run(found.job)

    Source.objects.get(pk=by_orm.pk).delete()
    Source.objects.filter(pk=in_bulk.pk).delete()
    admin_client.post(reverse("admin:scrapers_source_delete", args=[in_admin.pk]), {"post": "yes"})

    assert list(Source.objects.values_list("name", flat=True)) == ["kept"]
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.job_id]
    assert not Run.objects.exists()


# --- check now: a recorded run, never a check inside the request --------------------------------------


@pytest.fixture
def no_check_here(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a check ran inside the web request")

    monkeypatch.setattr(checks, "check_source", refuse)


def assert_one_queued_manual_run(found):
    run = Run.objects.get()
    assert (run.job_id, run.trigger, run.status) == (fresh(found).job_id, "manual", "queued")
    assert OrmQ.objects.count() == 1  # handed to the workers' queue
    assert fresh(found).last_checked_at is None
    return run


def test_check_now_in_the_admin_queues_a_recorded_run(admin_client, no_check_here):
    found = source()
    response = admin_client.post(SOURCES_ADMIN, {"action": "check_now", "_selected_action": [found.pk]})
    run = assert_one_queued_manual_run(found)
    assert response.status_code == 302
    assert reverse("scheduler:run", args=[run.pk]) in "".join(messages_of(response))


def test_check_now_on_the_dashboard_queues_a_recorded_run_and_follows_it(staff_client, no_check_here):
    found = source()
    response = staff_client.post(reverse("scrapers:source_check", args=[found.pk]), **HTMX)
    run = assert_one_queued_manual_run(found)
    fragment = response.content.decode()
    assert f"Check queued as run #{run.pk}." in fragment
    assert 'hx-trigger="every 3s"' in fragment  # the status polls itself until the run ends
    assert f'href="{reverse("scheduler:run", args=[run.pk])}"' in fragment


# --- one place to edit the schedule ---------------------------------------------------------------------


def job_editor_data(job, **changes):
    data = {
        "name": job.name,
        "kind": job.kind,
        "params": "{}",
        "schedule_type": job.schedule_type,
        "cron": job.cron,
        "timezone": job.timezone,
        "interval_seconds": str(job.interval_seconds or ""),
        "enabled": "on",
        "queue": job.queue,
        "timeout_seconds": str(job.timeout_seconds),
        "max_attempts": str(job.max_attempts),
        "backoff_base_seconds": "10",
        "backoff_cap_seconds": "600",
        "backoff_jitter": "0.1",
        "overlap_policy": "forbid",
        "misfire_policy": "coalesce",
        "misfire_grace_seconds": "3600",
    }
    data.update(changes)
    return data


SCHEDULE_CHANGES = {
    "name": "renamed",
    "kind": "noop",
    "params": '{"source_id": 999}',
    "schedule_type": "cron",
    "cron": "0 3 * * *",
    "interval_seconds": "5",
    "timezone": "Asia/Tokyo",
    "timeout_seconds": "77",
}


def schedule_of(job):
    job = Job.objects.get(pk=job.pk)
    names = ["name", "kind", "params", "schedule_type", "cron", "interval_seconds", "timezone", "timeout_seconds"]
    return {name: getattr(job, name) for name in names} | {"enabled": job.enabled}


def test_the_jobs_page_editor_shows_the_schedule_read_only_and_ignores_changes_to_it(staff_client):
    found = source(interval_seconds=30)
    job = found.job
    before = schedule_of(job)
    url = reverse("scheduler:job", args=[job.pk])

    page = staff_client.get(url).content.decode()
    assert re.search(r'<input [^>]*name="interval_seconds" value="30"[^>]* disabled', page)
    assert reverse("scrapers:source", args=[found.pk]) in page

    data = job_editor_data(job, **SCHEDULE_CHANGES, enabled="", max_attempts="3")
    response = staff_client.post(url, data)

    assert response.status_code == 302
    assert schedule_of(job) == before  # one place to edit the schedule: the source
    assert Job.objects.get(pk=job.pk).max_attempts == 3  # what the source does not set stays editable here


def test_the_jobs_admin_shows_the_schedule_read_only_and_ignores_changes_to_it(admin_client):
    found = source()
    job = found.job
    before = schedule_of(job)
    change = reverse("admin:scheduler_job_change", args=[job.pk])

    page = admin_client.get(change).content.decode()
    assert re.search(r'<input [^>]*name="interval_seconds" value="30"[^>]* disabled', page)
    assert "Managed by" in page
    assert reverse("admin:scrapers_source_change", args=[found.pk]) in page

    data = job_editor_data(job, **SCHEDULE_CHANGES, max_attempts="2")
    response = admin_client.post(change, {**data, "_save": "Save"})

    assert response.status_code == 302
    assert schedule_of(job) == before
    assert Job.objects.get(pk=job.pk).max_attempts == 2


def test_a_new_check_source_job_is_refused_on_the_jobs_pages(staff_client, admin_client):
    found = source()
    data = job_editor_data(found.job, name="second schedule", params=f'{{"source_id": {found.pk}}}')
    message = "Each source has its own check_source job: add or edit the source instead."

    on_page = staff_client.post(reverse("scheduler:job_new"), data)
    in_admin = admin_client.post(reverse("admin:scheduler_job_add"), data)

    assert message in on_page.content.decode() and message in in_admin.content.decode()
    assert Job.objects.filter(kind="check_source").count() == 1


# --- a source without a schedule ------------------------------------------------------------------------


def orphan():
    """A source whose job was deleted before sources owned their jobs."""
    found = source()
    Source.objects.filter(pk=found.pk).update(job=None)
    Job.objects.all().delete()
    return fresh(found)


def test_the_source_page_says_when_a_source_has_no_schedule(staff_client):
    found = orphan()
    page = staff_client.get(reverse("scrapers:source", args=[found.pk])).content.decode()
    assert "No schedule: this source is not checked." in page

    staff_client.post(reverse("scrapers:source_check", args=[found.pk]))  # check now gives it one
    page = staff_client.get(reverse("scrapers:source", args=[found.pk])).content.decode()
    assert "No schedule" not in page and fresh(found).job.owner == f"source:{found.pk}"


def test_the_migration_gives_orphans_a_job_and_marks_existing_jobs_as_owned():
    migration = importlib.import_module("scrapers.migrations.0004_source_owns_its_job")
    lost = orphan()
    kept = source("kept")
    Job.objects.filter(pk=kept.job_id).update(owner="")  # as stored before owners existed

    migration.own_the_jobs(apps, None)

    assert Job.objects.get(pk=kept.job_id).owner == f"source:{kept.pk}"
    job = fresh(lost).job
    assert (job.kind, job.params, job.owner, job.interval_seconds) == (
        "check_source",
        {"source_id": lost.pk},
        f"source:{lost.pk}",
        30,
    )
    assert job.enabled and job.next_run_at is not None


def test_a_source_whose_stored_config_its_kind_rejects_is_paused_with_the_reason_and_others_go_on(site):
    """One bad row stops only itself: the engine pauses the source's job, and the source with it."""
    from scheduler.execution import execute_run
    from tests.loopback.organizer import page

    site.respond("/tarefas", body=page((1, "A", "a")))
    bad = make_source(f"{site.url}/tarefas", name="bad")
    good = make_source(f"{site.url}/tarefas", name="good")
    Source.objects.filter(pk=bad.pk).update(config={"items": "li", "unknown_setting": 1})
    assert execute_run(services.run_now(bad.job).id) == "failed"
    assert execute_run(services.run_now(good.job).id) == "succeeded"
    bad, job = fresh(bad), Job.objects.get(pk=bad.job_id)
    assert not job.enabled and "stored configuration is no longer valid" in job.paused_reason
    assert not bad.enabled and "unknown_setting" in bad.last_error
    assert fresh(good).enabled and Job.objects.get(pk=good.job_id).enabled
