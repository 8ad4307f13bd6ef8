"""In a real browser, under the Content-Security-Policy every response carries: no page of the dashboard
or the admin makes the browser refuse anything (no inline script, style or handler, nothing from
elsewhere) nor logs an error, and htmx still works (live previews, polling, the language switcher)."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from scheduler.models import Run
from scrapers.models import Source
from scrapers.sources.services import sync_job
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    "/",
    "/queue/",
    "/jobs/",
    "/jobs/new/",
    "/runs/",
    "/sources/",
    "/sources/new/",
    "/items/",
    "/people/",
    "/people/new/",
    "/publications/",
    "/channels/",
    "/deliveries/",
    "/templates/",
    "/admin/",
]


# A few of the admin's own pages: a list, a change form with its widgets, an add form.
def admin_pages(job):
    return [
        "/admin/scheduler/job/",
        f"/admin/scheduler/job/{job.pk}/change/",
        "/admin/scheduler/run/",
        "/admin/scrapers/source/",  # health badges
        "/admin/channels_app/delivery/",  # status badges
    ]


# Reported to Python from inside each page; an init script is the browser's own, so the policy allows it.
LISTEN = """
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.reportViolation(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"} in ${where}`);
});
"""


@pytest.fixture
def watched(browser_page):
    """The logged-in page, plus the list of every CSP violation and console error/warning it produces."""
    page = browser_page
    problems = []
    page.expose_function("reportViolation", lambda text: problems.append(f"{page.url}: CSP {text}"))
    page.context.add_init_script(LISTEN)

    def console(message):
        # (The admin's pages name no icon, so the browser asks for /favicon.ico; that 404 is not ours to judge.)
        if message.type in ("error", "warning") and not message.location["url"].endswith("/favicon.ico"):
            problems.append(f"{page.url}: {message.text} ({message.location['url']})")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.problems = problems
    return page


def some_history():
    """A job with runs, some failed (the overview's bars), and a source: the detail pages have content."""
    job = make_job(name="nightly check")
    now = timezone.now()
    for minutes, status in ((70, Run.Status.SUCCEEDED), (75, Run.Status.FAILED), (190, Run.Status.SUCCEEDED)):
        when = now - timedelta(minutes=minutes)
        Run.objects.create(job=job, scheduled_for=when, due_at=when, status=status)
    source = Source.objects.create(name="Example org", kind="html", url="http://127.0.0.1:9/")
    sync_job(source)
    cache.clear()  # the overview keeps closed hours' counts a minute; the login already landed on it
    return job, job.runs.first(), source


def test_no_page_breaks_the_content_security_policy(watched):
    job, run, source = some_history()
    page = watched
    for path in [*PAGES, f"/jobs/{job.pk}/", f"/runs/{run.pk}/", f"/sources/{source.pk}/", *admin_pages(job)]:
        response = page.goto(page.url_for(path))
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_timeout(300)  # violation reports are queued as tasks; let them arrive
    # The overview polls its parts with htmx; a poll swapped in must be as clean as the first render.
    page.goto(page.url_for("/"))
    with page.expect_response(lambda r: "part=activity" in r.url, timeout=10_000):
        pass
    expect(page.locator("#activity .bars > span")).to_have_count(24)
    assert page.locator("#activity .bars > span i").count() >= 1  # the hour with a failed run
    assert page.problems == []


def test_htmx_and_the_language_switcher_work_under_the_policy(watched):
    page = watched
    make_job(name="alpha digest")
    make_job(name="beta digest")
    page.goto(page.url_for("/jobs/"))
    page.locator("input[name=q]").press_sequentially("beta", delay=30)  # hx-trigger "... from:input[name=q]"
    expect(page.locator("#job-rows")).not_to_contain_text("alpha digest")
    expect(page.locator("#job-rows")).to_contain_text("beta digest")
    assert "q=beta" in page.url  # pushed into the address bar

    page.goto(page.url_for("/jobs/new/"))
    page.select_option("#id_kind", "noop")
    cron = page.locator("#id_cron")
    cron.fill("")
    cron.press_sequentially("*/15 * * * *", delay=30)
    expect(page.get_by_test_id("cron-description")).to_have_text("Every 15 minutes")
    expect(page.get_by_test_id("cron-next").locator("li")).to_have_count(5)

    with page.expect_navigation():
        page.select_option("#language", "pt-br")  # submitted by static/js/vigia.js, not an onchange=""
    assert page.locator("html").get_attribute("lang") == "pt-br"
    assert page.problems == []


def test_an_inline_script_would_be_refused(watched):
    """The listener above does hear violations: an inline script injected into a page is blocked."""
    page = watched
    page.goto(page.url_for("/"))
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.ran = 1";
                            document.body.appendChild(s); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("window.ran") is None
    assert any("script-src" in problem for problem in page.problems)
