"""Issue 15's second journey, in each language: a developer creates a cron job that calls an HTTP endpoint (a
loopback server that answers 500 with a JSON body), filling the http_request kind's own fields on the new-job
page; the editor describes the cron expression and lists the next runs in the job's zone; saved, the job's page
shows them too. "Run now" queues a run, executed in the test's thread as a worker would (one attempt: no retry);
the failed status appears on the page without a reload, and the failed run's page shows the error (HTTP 500) and
the endpoint's answer. The same pages then fit a phone."""

import json
import re

import pytest
from playwright.sync_api import expect

from scheduler import cron_text
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from tests.journeys.support import LANGUAGES, fits_a_phone, in_language, no_english, said, t
from tests.loopback.server import LoopbackServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

CRON, ZONE = "30 7 * * 1-5", "America/Manaus"  # Manaus: UTC-4 all year, no daylight saving time
ANSWER = {"error": "database unavailable", "code": "DB_DOWN"}


@pytest.fixture
def endpoint():
    """The developer's API, answering 500 with a JSON body."""
    with LoopbackServer() as server:
        server.respond("/api/ping", status=500, body=ANSWER)
        yield server


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_developer_schedules_an_http_call_runs_it_and_reads_why_it_failed(browser_page, endpoint, lang):
    page = in_language(browser_page, lang)

    # --- The new job: its kind's own fields, the cron in words and the next runs in the job's zone.
    page.goto(page.url_for("/jobs/new/"))
    expect(page.locator("h1")).to_have_text(t(lang, "New job"))
    form = page.locator("#job-form form")
    form.get_by_label(t(lang, "Name"), exact=True).fill("API health check")
    form.get_by_label(t(lang, "Kind"), exact=True).select_option(label=t(lang, "HTTP request / webhook / GraphQL"))
    settings = page.locator("#id_params_settings")
    expect(settings.locator("legend")).to_contain_text(t(lang, "HTTP request / webhook / GraphQL"))
    settings.get_by_label(t(lang, "URL"), exact=True).fill(endpoint.url + "/api/ping")
    settings.get_by_label(t(lang, "Method"), exact=True).select_option("GET")
    expect(settings.get_by_label(t(lang, "Expected status"), exact=True)).to_be_visible()
    no_english(page, lang, ["New job", "Method", "Headers", "JSON body", "GraphQL query", "Expected status", "Kind"])

    form.get_by_label(t(lang, "Time zone"), exact=True).fill(ZONE)
    cron = form.get_by_label(t(lang, "Cron expression"), exact=True)
    cron.fill("")
    cron.press_sequentially(CRON, delay=30)
    described = cron_text.describe(CRON, lang)
    expect(page.get_by_test_id("cron-description")).to_have_text(described)
    preview = page.locator("#cron-preview")
    expect(preview).to_contain_text(t(lang, "Next runs in %(zone)s:", zone=ZONE))
    upcoming = page.get_by_test_id("cron-next").locator("li")
    expect(upcoming).to_have_count(5)
    for text in upcoming.all_inner_texts():
        assert "07:30:00" in text and "UTC-0400" in text, text  # 07:30 in Manaus, not in the browser's zone
    no_english(page, lang, ["Monday", "Friday", "Next runs in %(zone)s:", "Cron expression", "Time zone"])

    page.locator("#job-form summary").filter(has_text=t(lang, "More options")).click()
    attempts = form.get_by_label(t(lang, "Max attempts"), exact=True)
    attempts.fill("1")  # one attempt: a failure is final, no retry
    expect(form).to_contain_text(t(lang, "1 = no retry."))

    form.get_by_role("button", name=t(lang, "Save"), exact=True).click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(name="API health check")
    assert (job.kind, job.cron, job.timezone, job.max_attempts) == ("http_request", CRON, ZONE, 1)
    assert job.params["url"] == endpoint.url + "/api/ping" and job.params["method"] == "GET"
    expect(page.locator("h1")).to_contain_text("API health check")
    expect(page.locator("#cron-preview")).to_contain_text(described)
    next_runs = page.locator("#next-runs li")
    expect(next_runs).to_have_count(5)
    expect(next_runs.first).to_contain_text("07:30")
    expect(next_runs.first).to_contain_text(ZONE)
    expect(page.locator("#job-runs")).to_contain_text(t(lang, "No runs yet."))
    no_english(page, lang, ["Run now", "Next runs", "Recent runs", "No runs yet.", "Schedule", "Pause"])

    # --- Run now: queued, executed by "a worker", failed: the page follows without a reload.
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_role("button", name=t(lang, "Run now"), exact=True).click()
    live = page.locator("#run-now [data-status]")
    expect(live).to_have_attribute("data-status", "queued")
    expect(live.locator(".badge")).to_have_text(said(lang, Run.Status.QUEUED.label))
    no_cluster = (
        "No worker cluster is running, so nothing can start it. Start one: python manage.py qcluster "
        "(make up starts one)."
    )
    expect(page.get_by_test_id("run-waiting")).to_have_text(t(lang, no_cluster))  # none runs in this test
    no_english(page, lang, [no_cluster, "Queued", "updating…"])
    run = Run.objects.get(job=job)

    assert execute_run(run.id) == Run.Status.FAILED  # what a worker does with it: 500, no retry left

    expect(live).to_have_attribute("data-status", "failed", timeout=10_000)  # the fragment polls every 2 s
    failed = said(lang, Run.Status.FAILED.label)
    expect(live.locator(".badge")).to_have_text(failed)
    expect(live.locator("pre.error")).to_contain_text("HTTP 500")
    expect(page.locator("#job-runs tbody tr")).to_have_count(1)  # the runs list reloads itself after the run
    expect(page.locator("#job-runs tbody tr .badge")).to_have_text(failed)
    assert page.evaluate("window.stillTheSamePage") is True  # no reload
    no_english(page, lang, ["Failed", "Queued", "Error", "Scheduled for", "Attempt"])

    # --- The failed run's page: the error and what the endpoint answered.
    page.locator("#run-now").get_by_role("link", name=t(lang, "Run #%(id)s", id=run.pk)).click()
    page.wait_for_url(page.url_for(f"/runs/{run.pk}/"))
    expect(page.locator("h1")).to_contain_text(t(lang, "Run #%(id)s", id=run.pk))
    card = page.locator(f"#run-{run.pk}-live")
    expect(card).to_have_attribute("data-status", "failed")
    expect(card.locator(".badge").first).to_have_text(failed)
    expect(card.get_by_role("heading", name=t(lang, "Error"), exact=True)).to_be_visible()
    expect(card.locator("pre.error")).to_contain_text("HTTP 500")
    expect(card.get_by_role("heading", name=t(lang, "Result"), exact=True)).to_be_visible()
    result = json.loads(card.locator("pre").nth(1).inner_text())
    assert result["status"] == 500 and json.loads(result["response"]) == ANSWER
    expect(card.locator("dl.meta")).to_contain_text(said(lang, Run.Trigger.MANUAL.label))
    no_english(page, lang, ["Error", "Result", "Scheduled for", "Trigger", "All runs of this job", "Finished"])
    assert len(endpoint.requests) == 1 and endpoint.requests[0].method == "GET"

    # --- The same pages on a phone.
    fits_a_phone(page, lang, ["/jobs/new/", f"/jobs/{job.pk}/", f"/runs/{run.pk}/"])
