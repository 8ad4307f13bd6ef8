"""The dashboard's jobs pages: list (filters, search, last run, bounded queries), editor with the live cron
preview, and the staff actions (pause, resume, run now, duplicate, delete)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduler.models import Job, Run
from tests.support.factories import job_form_data as form_data
from tests.support.factories import make_job

JOBS = reverse("scheduler:jobs")
NEW = reverse("scheduler:job_new")
PREVIEW = reverse("scheduler:cron_preview")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _local_zone(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"  # the operator's clock (UTC−3, no DST)
    settings.LANGUAGE_CODE = "en"


def add_run(job, status="succeeded", minutes_ago=10, **fields):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return Run.objects.create(job=job, scheduled_for=at, due_at=at, status=status, **fields)


def job_url(job, name="job"):
    return reverse(f"scheduler:{name}", args=[job.pk])


# --- access ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [JOBS, NEW])
def test_pages_need_a_login(db, client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("action", ["job_pause", "job_resume", "job_run", "job_duplicate", "job_delete"])
def test_viewers_cannot_act(db, viewer_client, action):
    job = make_job()
    assert viewer_client.post(job_url(job, action)).status_code == 403
    assert Job.objects.count() == 1 and not Run.objects.exists()
    assert Job.objects.get().enabled


@pytest.mark.parametrize("action", ["job_pause", "job_run", "job_delete"])
def test_actions_refuse_get(db, staff_client, action):
    assert staff_client.get(job_url(make_job(), action)).status_code == 405


def test_viewers_cannot_save(db, viewer_client):
    assert viewer_client.post(NEW, form_data()).status_code == 403
    job = make_job(name="keep")
    assert viewer_client.post(job_url(job), form_data(name="changed")).status_code == 403
    assert not Job.objects.exclude(name="keep").exists()


def test_viewers_can_read_the_editor_without_a_save_button(db, viewer_client):
    body = viewer_client.get(job_url(make_job())).content.decode()
    assert "Only staff can change jobs." in body and "Run now" not in body


@pytest.mark.parametrize("name", ["job", "job_pause", "job_run", "job_duplicate", "job_delete"])
def test_unknown_job_is_404(db, staff_client, name):
    url = reverse(f"scheduler:{name}", args=[999999])
    response = staff_client.get(url) if name == "job" else staff_client.post(url)
    assert response.status_code == 404


# --- list -----------------------------------------------------------------------------------------------------


def test_list_shows_schedule_next_run_in_local_time_and_last_status(db, staff_client):
    job = make_job(name="nightly <b>", schedule_type="cron", cron="0 3 * * *", timezone="UTC")
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.datetime(2030, 1, 2, 3, 0, tzinfo=timezone.UTC))
    add_run(job, "failed", minutes_ago=5)
    add_run(job, "succeeded", minutes_ago=60)
    body = staff_client.get(JOBS).content.decode()
    assert "nightly &lt;b&gt;" in body  # escaped
    assert "0 3 * * *" in body
    assert "2030-01-02 00:00" in body  # 03:00 UTC is midnight in São Paulo
    assert 'class="badge failed"' in body  # the newest run


def test_list_shows_times_in_the_operators_cookie_zone(db, staff_client):
    job = make_job(name="tokyo", schedule_type="cron", cron="0 3 * * *", timezone="UTC")
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.datetime(2030, 1, 2, 3, 0, tzinfo=timezone.UTC))
    staff_client.cookies["vigia_tz"] = "Asia/Tokyo"
    assert "2030-01-02 12:00" in staff_client.get(JOBS).content.decode()  # 03:00 UTC = 12:00 JST


def test_list_filters_and_search(db, staff_client):
    make_job(name="alpha cron", schedule_type="cron", cron="* * * * *", queue="high")
    make_job(name="beta interval", enabled=False)
    make_job(name="gamma once", schedule_type="once", kind="test_sleep", params={"seconds": 0})

    def names(**params):
        response = staff_client.get(JOBS, params)
        return sorted(job.name for job in response.context["page"])

    assert names() == ["alpha cron", "beta interval", "gamma once"]
    assert names(schedule="cron") == ["alpha cron"]
    assert names(state="paused") == ["beta interval"]
    assert names(state="enabled") == ["alpha cron", "gamma once"]
    assert names(queue="high") == ["alpha cron"]
    assert names(kind="test_sleep") == ["gamma once"]
    assert names(q="BETA") == ["beta interval"]
    assert names(schedule="bogus") == ["alpha cron", "beta interval", "gamma once"]


def test_list_fragment_for_htmx(db, staff_client):
    make_job(name="fragment job")
    response = staff_client.get(JOBS, {"q": "fragment"}, **HTMX)
    body = response.content.decode()
    assert 'id="job-rows"' in body and "fragment job" in body and "<html" not in body


def test_list_pages_by_keyset(db, staff_client):
    for n in range(55):
        make_job(name=f"bulk {n:02}")
    first = staff_client.get(JOBS)
    assert len(first.context["page"]) == 50
    older = staff_client.get(JOBS, {"before": first.context["page"].next_before})
    assert len(older.context["page"]) == 5


def test_list_queries_are_bounded(db, staff_client, django_assert_max_num_queries):
    for n in range(30):
        job = make_job(name=f"job {n}")
        add_run(job, "succeeded", minutes_ago=30)
        add_run(job, "failed", minutes_ago=5)
    with django_assert_max_num_queries(4):  # session, user, the page (last run as subqueries), messages
        response = staff_client.get(JOBS)
    assert response.content.decode().count('class="badge failed"') == 30


# --- editor ---------------------------------------------------------------------------------------------------


def test_new_job_form_offers_zones_and_preview(db, staff_client):
    body = staff_client.get(NEW).content.decode()
    assert 'list="zone-names"' in body and '<option value="Europe/Lisbon">' in body
    assert 'hx-post="/jobs/cron-preview/"' in body
    assert 'hx-trigger="input changed delay:300ms"' in body
    assert "At 09:00, Monday through Friday" in body  # the initial expression's preview


def test_a_valid_new_job_is_saved_with_its_next_run(db, staff_client):
    response = staff_client.post(NEW, form_data())
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.cron == "0 9 * * 1-5" and job.next_run_at is not None
    assert job.next_run_at.astimezone(timezone.get_current_timezone()).hour == 9


def test_htmx_save_answers_with_a_client_redirect(db, staff_client):
    response = staff_client.post(NEW, form_data(), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == job_url(Job.objects.get())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cron": "61 * * * *"}, "The minute field"),
        ({"cron": "* * *"}, "Expected 5 fields"),
        ({"timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"kind": "nope"}, "Unknown kind"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_bad_input_shows_an_inline_error_and_saves_nothing(db, staff_client, overrides, message):
    response = staff_client.post(NEW, form_data(**overrides), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert message in body and 'id="job-form"' in body and "<html" not in body
    assert 'class="field invalid"' in body
    assert overrides.get("cron", "0 9 * * 1-5") in body  # what was typed is kept
    assert not Job.objects.exists()


def test_bad_cron_without_htmx_re_renders_the_page(db, staff_client):
    response = staff_client.post(NEW, form_data(cron="0 25 * * *"))
    assert response.status_code == 200 and "The hour field" in response.content.decode()
    assert not Job.objects.exists()


def test_job_page_shows_the_job_its_runs_and_the_form(db, staff_client, django_assert_max_num_queries):
    job = make_job(name="page job", schedule_type="cron", cron="30 8 * * *", timezone="Europe/Lisbon")
    for n in range(60):
        add_run(job, "failed" if n % 2 else "succeeded", minutes_ago=n + 1)
    with django_assert_max_num_queries(9):  # + the Notify panel's subscriptions and recipients, the role, alerts
        response = staff_client.get(job_url(job))
    body = response.content.decode()
    assert "page job" in body and 'value="30 8 * * *"' in body
    assert body.count(reverse("scheduler:run", args=[job.runs.order_by("-scheduled_for").first().pk])) == 1
    assert len(response.context["runs"]) == 20
    assert "At 08:30" in body and "Europe/Lisbon" in body


def test_editing_a_job_saves_and_recomputes(db, staff_client):
    job = make_job(name="edit me", schedule_type="cron", cron="0 1 * * *", timezone="UTC")
    response = staff_client.post(job_url(job), form_data(name="edited", cron="0 2 * * *", timezone="UTC"))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.name == "edited" and job.cron == "0 2 * * *" and job.next_run_at.hour == 2


def test_editing_with_a_bad_cron_keeps_the_stored_job(db, staff_client):
    job = make_job(name="stay", schedule_type="cron", cron="0 1 * * *", timezone="UTC")
    response = staff_client.post(job_url(job), form_data(name="stay", cron="0 1 * *"), **HTMX)
    assert "Expected 5 fields" in response.content.decode()
    job.refresh_from_db()
    assert job.cron == "0 1 * * *"


# --- cron preview ---------------------------------------------------------------------------------------------


def test_preview_describes_and_lists_five_runs_in_the_zone(db, staff_client):
    response = staff_client.post(PREVIEW, {"cron": "0 9 * * 1-5", "timezone": "Asia/Tokyo"}, **HTMX)
    body = response.content.decode()
    assert "At 09:00, Monday through Friday" in body
    assert body.count("<li>") == 5 and body.count("09:00:00") == 5
    assert "Asia/Tokyo" in body and "UTC+0900" in body


def test_preview_in_portuguese(db, staff_client):
    staff_client.cookies["django_language"] = "pt-br"
    body = staff_client.post(PREVIEW, {"cron": "0 9 * * 1-5", "timezone": "UTC"}, **HTMX).content.decode()
    assert "de segunda-feira a sexta-feira" in body


def test_preview_shows_the_offset_of_each_occurrence_across_dst(db, staff_client):
    body = staff_client.post(PREVIEW, {"cron": "@monthly", "timezone": "Europe/Lisbon"}, **HTMX).content.decode()
    assert body.count("<li>") == 5
    assert "UTC+0000" in body or "UTC+0100" in body


def test_preview_shows_the_error_for_a_bad_expression(db, staff_client):
    body = staff_client.post(PREVIEW, {"cron": "*/5 * * *", "timezone": "UTC"}, **HTMX).content.decode()
    assert 'data-testid="cron-error"' in body and "Expected 5 fields" in body and "<li>" not in body


def test_preview_shows_the_error_for_a_bad_zone(db, staff_client):
    body = staff_client.post(PREVIEW, {"cron": "@daily", "timezone": "Nowhere/Land"}, **HTMX).content.decode()
    assert "Unknown time zone" in body and "At 00:00" in body


def test_preview_of_nothing_is_a_hint(db, staff_client):
    body = staff_client.post(PREVIEW, {"cron": " ", "timezone": "UTC"}, **HTMX).content.decode()
    assert "Type a cron expression" in body and "error" not in body


def test_preview_is_post_only(db, staff_client):
    assert staff_client.get(PREVIEW).status_code == 405


# --- actions --------------------------------------------------------------------------------------------------


def test_pause_and_resume(db, staff_client):
    job = make_job(schedule_type="cron", cron="* * * * *")
    response = staff_client.post(job_url(job, "job_pause"))
    assert response.status_code == 302 and response["Location"] == job_url(job)
    job.refresh_from_db()
    assert not job.enabled and job.next_run_at is None
    assert "Paused" in staff_client.get(job_url(job)).content.decode()
    response = staff_client.post(job_url(job, "job_resume"), {"next": JOBS + "?state=paused"}, **HTMX)
    assert response["HX-Redirect"] == JOBS + "?state=paused"
    job.refresh_from_db()
    assert job.enabled and job.next_run_at is not None


def test_actions_never_redirect_off_site(db, staff_client):
    job = make_job()
    response = staff_client.post(job_url(job, "job_pause"), {"next": "https://evil.example/"})
    assert response["Location"] == job_url(job)


def test_run_now_answers_with_a_live_status_fragment(db, staff_client):
    job = make_job()
    response = staff_client.post(job_url(job, "job_run"), **HTMX)
    run = Run.objects.get()
    body = response.content.decode()
    assert run.trigger == "manual" and run.status == "queued"
    assert f'hx-get="{reverse("scheduler:run", args=[run.pk])}?compact=1"' in body
    assert 'hx-trigger="every 2s"' in body and "<html" not in body


def test_run_now_without_htmx_opens_the_run(db, staff_client):
    job = make_job()
    response = staff_client.post(job_url(job, "job_run"))
    assert response["Location"] == reverse("scheduler:run", args=[Run.objects.get().pk])


def test_duplicate_makes_a_paused_copy_and_opens_it(db, staff_client):
    job = make_job(name="orig", schedule_type="cron", cron="0 4 * * *", external_service="svc", external_key="k")
    response = staff_client.post(job_url(job, "job_duplicate"))
    copy = Job.objects.get(name="orig (copy)")
    assert response["Location"] == job_url(copy)
    assert not copy.enabled and copy.next_run_at is None and copy.cron == "0 4 * * *"
    assert copy.external_service is None and copy.external_key is None
    staff_client.post(job_url(job, "job_duplicate"))
    assert Job.objects.filter(name="orig (copy 2)").exists()


def test_delete_needs_confirmation_and_removes_the_job(db, staff_client):
    job = make_job(name="doomed")
    add_run(job)
    body = staff_client.get(job_url(job)).content.decode()
    assert "data-confirm=" in body
    response = staff_client.post(job_url(job, "job_delete"), **HTMX)
    assert response["HX-Redirect"] == JOBS
    assert not Job.objects.exists() and not Run.objects.exists()


def test_the_job_page_gives_the_next_runs_in_the_jobs_zone_and_the_viewers(db, staff_client):
    job = make_job(name="aniversário", schedule_type="cron", cron="0 1 15 8 *", timezone="America/Sao_Paulo")
    staff_client.cookies["vigia_tz"] = "Asia/Tokyo"
    page = staff_client.get(reverse("scheduler:job", args=[job.pk])).content.decode()
    runs = page.split('id="next-runs"')[1].split("</dd>")[0]
    year = job.next_run_at.astimezone(timezone.get_fixed_timezone(-180)).year
    assert runs.count("<li>") == 5
    assert f"{year}-08-15 01:00</span>" not in runs  # the time itself is not wrapped: the zone follows it
    assert f'{year}-08-15 01:00 <span class="muted">America/Sao_Paulo</span>' in runs
    assert f"= Sun, {year}-08-15 13:00" in runs or f"{year}-08-15 13:00" in runs  # 01:00 -03:00 is 13:00 in Tokyo
    assert "your time (Asia/Tokyo)" in runs

    staff_client.cookies["vigia_tz"] = "America/Sao_Paulo"  # the same zone: said once
    same = staff_client.get(reverse("scheduler:job", args=[job.pk])).content.decode()
    assert "your time (" not in same.split('id="next-runs"')[1].split("</dd>")[0]


def test_a_paused_or_finished_job_has_no_next_runs(db, staff_client):
    job = make_job(schedule_type="cron", cron="0 1 15 8 *", timezone="UTC", enabled=False)
    page = staff_client.get(reverse("scheduler:job", args=[job.pk])).content.decode()
    assert "<li>" not in page.split('id="next-runs"')[1].split("</dd>")[0]


def test_system_jobs_show_their_translated_names(db, staff_client):
    from scheduler.shared import retention

    job = make_job(name="Prune history", external_service="vigia", external_key=retention.PRUNE_JOB["external_key"])
    staff_client.cookies["django_language"] = "pt-br"
    listed = staff_client.get(reverse("scheduler:jobs"), HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    page = staff_client.get(reverse("scheduler:job", args=[job.pk]), HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert "Limpar histórico" in listed and "Prune history</a>" not in listed
    assert "<h1>Limpar histórico" in page
    assert "Rotinas" in listed and "tarefa" not in listed.lower()  # job = rotina (README, Glossary (pt-BR))
