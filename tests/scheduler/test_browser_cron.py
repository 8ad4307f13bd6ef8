"""In a real browser: the job editor's cron field describes itself and lists the next five runs as the
operator types, flags a bad expression inline, and saving lands on the new job's page."""

import re

import pytest
from playwright.sync_api import expect

from scheduler.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def test_cron_preview_follows_typing_and_saving_opens_the_job(browser_page):
    page = browser_page
    page.goto(page.url_for("/jobs/new/"))
    page.fill("#id_name", "typed in the browser")
    page.select_option("#id_kind", "noop")
    page.fill("#id_timezone", "Asia/Tokyo")

    cron = page.locator("#id_cron")
    cron.fill("")
    expect(page.get_by_text("Type a cron expression to see when it runs.")).to_be_visible()

    cron.press_sequentially("*/15 * * * *", delay=40)
    expect(page.get_by_test_id("cron-description")).to_have_text("Every 15 minutes")
    runs = page.get_by_test_id("cron-next").locator("li")
    expect(runs).to_have_count(5)
    expect(runs.first).to_contain_text("UTC+0900")
    expect(page.locator("#cron-preview")).to_contain_text("Asia/Tokyo")
    minutes = [re.search(r"\d\d:(\d\d):00", text).group(1) for text in runs.all_inner_texts()]
    assert set(minutes) <= {"00", "15", "30", "45"}

    # Still typing: the preview follows each change (a sixth field is added, then removed again).
    cron.press_sequentially(" 1", delay=40)
    expect(page.get_by_test_id("cron-description")).to_contain_text("Monday")  # 6 fields: seconds first
    cron.press("Backspace")
    cron.press("Backspace")
    expect(page.get_by_test_id("cron-description")).to_have_text("Every 15 minutes")

    cron.fill("")
    cron.press_sequentially("0 25 * * *", delay=40)
    expect(page.get_by_test_id("cron-error")).to_contain_text("The hour field")
    expect(page.get_by_test_id("cron-next")).to_have_count(0)

    cron.fill("")
    cron.press_sequentially("30 7 * * 1-5", delay=40)
    expect(page.get_by_test_id("cron-description")).to_have_text("At 07:30, Monday through Friday")
    expect(page.get_by_test_id("cron-next").locator("li").first).to_contain_text("07:30:00")

    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(name="typed in the browser")
    assert page.url == page.url_for(f"/jobs/{job.pk}/")
    assert job.cron == "30 7 * * 1-5" and job.timezone == "Asia/Tokyo" and job.next_run_at is not None
    expect(page.locator("h1")).to_contain_text("typed in the browser")
    expect(page.locator("#cron-preview")).to_contain_text("At 07:30, Monday through Friday")


def test_a_bad_cron_is_refused_inline_and_nothing_is_saved(browser_page):
    page = browser_page
    page.goto(page.url_for("/jobs/new/"))
    page.fill("#id_name", "never saved")
    page.select_option("#id_kind", "noop")
    page.locator("#id_cron").fill("")
    page.locator("#id_cron").press_sequentially("* * *", delay=20)
    expect(page.get_by_test_id("cron-error")).to_contain_text("Expected 5 fields")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_cron_error")).to_contain_text("Expected 5 fields")
    expect(page.locator("#id_cron")).to_have_value("* * *")
    assert page.url == page.url_for("/jobs/new/")
    assert not Job.objects.filter(name="never saved").exists()


def test_only_the_chosen_schedule_types_fields_show(browser_page):
    page = browser_page
    page.goto(page.url_for("/jobs/new/"))
    cron, zone, interval, run_at = (
        page.locator(f"#id_{name}") for name in ("cron", "timezone", "interval_seconds", "run_at")
    )
    expect(cron).to_be_visible()  # a new job is a cron job
    expect(zone).to_be_visible()
    expect(interval).to_be_hidden()
    expect(run_at).to_be_hidden()

    page.select_option("#id_schedule_type", "interval")
    expect(interval).to_be_visible()
    expect(cron).to_be_hidden()
    expect(page.locator("#cron-preview")).to_be_hidden()

    page.select_option("#id_schedule_type", "once")
    expect(run_at).to_be_visible()
    expect(interval).to_be_hidden()

    page.select_option("#id_schedule_type", "manual")
    for field in (cron, zone, interval, run_at):
        expect(field).to_be_hidden()

    # A refused save comes back with the chosen type's fields (and its error) showing.
    page.fill("#id_name", "every so often")
    page.select_option("#id_kind", "noop")
    page.select_option("#id_schedule_type", "interval")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_interval_seconds_error")).to_be_visible()
    expect(cron).to_be_hidden()
