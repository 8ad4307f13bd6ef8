"""The admin: job list (bounded queries), add/edit through JobForm, actions, run history."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from scheduler import services
from scheduler.models import Job, Run
from tests.support.factories import job_form_data, make_job

JOBS = reverse("admin:scheduler_job_changelist")
ADD_JOB = reverse("admin:scheduler_job_add")
RUNS = reverse("admin:scheduler_run_changelist")


@pytest.fixture(autouse=True)
def _local_zone(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"  # the operator's clock in these tests (UTC−3, no DST)


def job_change_url(job):
    return reverse("admin:scheduler_job_change", args=[job.pk])


def form_data(**overrides):
    """What the admin's add/change form posts for a valid every-minute noop job (dates split in two inputs)."""
    every_minute = {"name": "nightly", "schedule_type": "interval", "cron": "", "timezone": "UTC"}
    return job_form_data(admin=True, **{**every_minute, "interval_seconds": "60", **overrides})


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client, url, action, objects):
    return client.post(url, {"action": action, "_selected_action": [obj.pk for obj in objects]}, follow=True)


# --- the job list ---------------------------------------------------------------------------------


def _jobs_with_runs(count):
    for _ in range(count):
        job = make_job()
        run = services.run_now(job)
        Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED)


@pytest.mark.parametrize("count", [2, 60])
def test_job_list_queries_do_not_grow_with_the_jobs(db, admin_client, django_assert_max_num_queries, count):
    _jobs_with_runs(count)
    with django_assert_max_num_queries(8):  # session, user, 2 counts, the page, the kind filter
        response = admin_client.get(JOBS)
    assert response.status_code == 200
    assert response.content.decode().count("Succeeded") == min(count, 100)


def test_job_list_shows_schedule_next_run_in_local_time_and_last_status(db, admin_client):
    job = make_job(name="daily-report", schedule_type="cron", cron="0 9 * * *", timezone="UTC", max_occurrences=3)
    run = services.run_now(job)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)
    make_job(name="never-ran")

    page = admin_client.get(JOBS).content.decode()

    assert "0 9 * * * (UTC)" in page
    assert f"{timezone.localtime(job.next_run_at):%Y-%m-%d} 06:00:00 -03" in page  # 09:00 UTC in São Paulo
    assert "Failed" in page and "0/3" in page and "0/∞" in page


def test_job_list_filters_and_search(db, admin_client):
    make_job(name="alpha", queue="high")
    make_job(name="beta", queue="low", external_service="crm", external_key="k-42")

    assert "beta" not in admin_client.get(JOBS, {"queue": "high"}).content.decode()
    found = admin_client.get(JOBS, {"q": "k-42"}).content.decode()
    assert "beta" in found and "alpha" not in found
    assert (
        admin_client.get(JOBS, {"kind": "noop", "schedule_type": "interval", "enabled__exact": "1"}).status_code == 200
    )


# --- add and change go through JobForm ------------------------------------------------------------


def test_a_valid_add_saves_the_job_and_computes_its_next_run(db, admin_client):
    response = admin_client.post(ADD_JOB, form_data(schedule_type="cron", cron="*/5 * * * *", interval_seconds=""))

    assert response.status_code == 302
    job = Job.objects.get(name="nightly")
    assert job.next_run_at is not None and job.next_run_at > timezone.now()
    assert job.next_run_at.minute % 5 == 0 and job.next_run_at.second == 0


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"schedule_type": "cron", "cron": "61 * * * *"}, "cron", "The minute field '61' is not valid"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Unknown time zone 'Mars/Olympus_Mons'"),
        ({"interval_seconds": "0"}, "interval_seconds", "Between 1 and 316224000 seconds."),
        ({"schedule_type": "once", "run_at_0": "2001-01-01", "run_at_1": "12:00"}, "run_at", "in the past"),
        (
            {"start_at_0": "2030-01-02", "start_at_1": "00:00", "end_at_0": "2030-01-01", "end_at_1": "00:00"},
            "end_at",
            "The end must be after the start.",
        ),
        ({"kind": "http_request", "params": '{"url": "ftp://x"}'}, "params", "url: Enter an http:// or https://"),
        ({"params": '{"surprise": 1}'}, "params", "Unknown parameter: surprise."),
        ({"params": "{not json"}, "params", "Enter a valid JSON."),
        ({"kind": "no_such_kind"}, "kind", "Unknown kind"),
    ],
)
def test_an_invalid_add_shows_the_field_error_and_saves_nothing(db, admin_client, overrides, field, message):
    response = admin_client.post(ADD_JOB, form_data(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in error for error in errors[field]), errors
    assert Job.objects.count() == 0


def test_a_schedule_edit_recomputes_the_next_run(db, admin_client):
    job = make_job(name="nightly", schedule_type="cron", cron="0 * * * *", timezone="UTC")
    hourly = job.next_run_at

    response = admin_client.post(
        job_change_url(job), form_data(schedule_type="cron", cron="30 3 * * *", interval_seconds="")
    )

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.next_run_at != hourly and (job.next_run_at.hour, job.next_run_at.minute) == (3, 30)


def test_the_change_page_shows_the_next_occurrences_in_the_jobs_zone(db, admin_client):
    job = make_job(schedule_type="cron", cron="0 9 * * *", timezone="Asia/Tokyo")

    page = admin_client.get(job_change_url(job)).content.decode()

    assert "Next 5 occurrences" in page
    assert page.count("09:00:00 JST") == 5


def test_the_change_page_respects_max_occurrences(db, admin_client):
    job = make_job(schedule_type="interval", interval_seconds=60, max_occurrences=3)
    Job.objects.filter(pk=job.pk).update(occurrences=1)

    page = admin_client.get(job_change_url(job)).content.decode()

    start = page.index("Next 5 occurrences")
    assert page[start : start + 2000].count("<div>20") == 2  # 2 of 3 left


def test_the_change_page_shows_why_a_stored_schedule_is_invalid(db, admin_client):
    job = make_job(schedule_type="cron", cron="0 9 * * *")
    Job.objects.filter(pk=job.pk).update(cron="61 * * * *")  # e.g. written by an older version

    response = admin_client.get(job_change_url(job))

    assert response.status_code == 200
    assert "Invalid schedule: The minute field &#x27;61&#x27; is not valid" in response.content.decode()


def test_the_add_page_renders_without_state_fields(db, admin_client):
    page = admin_client.get(ADD_JOB).content.decode()
    assert "Policies" in page and "Identity" in page and "Next 5 occurrences" not in page


# --- actions --------------------------------------------------------------------------------------


def test_run_now_queues_a_manual_run_per_selected_job(db, admin_client):
    jobs = [make_job(), make_job()]

    response = act(admin_client, JOBS, "run_now", jobs)

    assert "Queued 2 runs." in messages_of(response)
    assert sorted(Run.objects.values_list("job_id", "trigger", "status")) == sorted(
        (job.pk, "manual", "queued") for job in jobs
    )


def test_pause_and_resume(db, admin_client):
    jobs = [make_job(), make_job()]
    other = make_job()

    response = act(admin_client, JOBS, "pause", jobs)

    assert "Paused 2 jobs." in messages_of(response)
    assert list(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("enabled", "next_run_at")) == [
        (False, None),
        (False, None),
    ]
    assert Job.objects.get(pk=other.pk).enabled

    response = act(admin_client, JOBS, "resume", jobs)

    assert "Resumed 2 jobs." in messages_of(response)
    for job in Job.objects.filter(pk__in=[j.pk for j in jobs]):
        assert job.enabled and job.next_run_at > timezone.now()


# --- runs -----------------------------------------------------------------------------------------


def test_cancel_stops_waiting_runs_and_asks_running_ones_to_stop(db, admin_client):
    job = make_job()
    waiting, running, done = (services.run_now(job) for _ in range(3))
    Run.objects.filter(pk=running.pk).update(status=Run.Status.RUNNING)
    Run.objects.filter(pk=done.pk).update(status=Run.Status.SUCCEEDED)

    response = act(admin_client, RUNS, "cancel", [waiting, running, done])

    assert "1 cancelled, 1 asked to stop." in messages_of(response)
    statuses = dict(Run.objects.values_list("pk", "status"))
    assert statuses == {waiting.pk: "cancelled", running.pk: "running", done.pk: "succeeded"}
    assert Run.objects.get(pk=running.pk).cancel_requested


def test_run_history_lists_filters_and_is_read_only(db, admin_client, django_assert_max_num_queries):
    job = make_job(name="sync-crm")
    for _ in range(30):
        services.run_now(job)
    run = Run.objects.first()
    Run.objects.filter(pk=run.pk).update(duration_ms=1234, status=Run.Status.SUCCEEDED)

    with django_assert_max_num_queries(9):
        page = admin_client.get(RUNS).content.decode()
    assert "sync-crm" in page and "1.23 s" in page
    year = timezone.localtime(run.scheduled_for).year
    filtered = {
        "status": "succeeded",
        "trigger": "manual",
        "job__kind": "noop",
        "q": "sync",
        "scheduled_for__year": year,
    }
    assert admin_client.get(RUNS, filtered).status_code == 200

    assert admin_client.get(reverse("admin:scheduler_run_add")).status_code == 403
    detail = admin_client.get(reverse("admin:scheduler_run_change", args=[run.pk]))
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()


def test_deleting_a_job_counts_its_runs_instead_of_listing_them(db, admin_client):
    job = make_job(name="noisy")
    for _ in range(3):
        services.run_now(job)

    page = admin_client.post(JOBS, {"action": "delete_selected", "_selected_action": [job.pk]}).content.decode()

    assert "noisy" in page and "Runs: 3" in page
    assert str(Run.objects.first()) not in page


def test_the_lease_is_visible_but_read_only(db, admin_client):
    from tests.support.factories import lead

    lead("scheduler-1")
    page = admin_client.get(reverse("admin:scheduler_lease_changelist"))
    assert page.status_code == 200 and "scheduler-1" in page.content.decode()
    assert admin_client.get(reverse("admin:scheduler_lease_add")).status_code == 403


def test_next_run_shows_a_dash_when_there_is_none(db, admin_client):
    once = make_job(schedule_type="once", run_at=datetime(2031, 1, 1, tzinfo=UTC) + timedelta(hours=12))
    services.pause([once])
    assert "—" in admin_client.get(JOBS).content.decode()
