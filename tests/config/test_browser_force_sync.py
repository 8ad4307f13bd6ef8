"""In a real browser: "Check all people now" on the overview answers at once, follows the worker's run until
it says how many checks it queued, and the queue page left open
in another tab shows the waiting count grow by itself (HTMX polling), without reloading."""

import pytest
from django_q.models import OrmQ
from playwright.sync_api import expect

from scheduler.execution import execute_run
from scheduler.models import Run
from scrapers.models import MonitoredPerson

# config.views.urls on top of the project's URLs until config/urls.py includes them (no change after).
pytestmark = pytest.mark.django_db(transaction=True)


def test_force_sync_shows_up_on_the_open_queue_page_without_a_reload(browser_page):
    for name in ("Ana Lima", "Bruno Costa", "Carla Dias"):
        MonitoredPerson.objects.create(name=name)  # as an import writes them: no first check queued yet

    queue_page = browser_page
    queue_page.goto(queue_page.url_for("/queue/"))
    waiting = queue_page.locator("#waiting-default")
    expect(waiting).to_have_text("0")
    queue_page.evaluate("window.marker = 1")  # gone if the page reloads or navigates

    overview = queue_page.context.new_page()
    overview.on("dialog", lambda dialog: dialog.accept())  # the button asks before queueing everyone
    overview.goto(queue_page.url_for("/"))
    overview.get_by_role("button", name="Check all people now").click()
    expect(overview.locator("#people-sync")).to_contain_text("Waiting for a worker to queue the checks")
    # What a worker does: take the sync run's task off the queue (the only one waiting) and run it.
    taken = OrmQ.objects.get()
    taken.delete()
    execute_run(Run.objects.get(job__kind="sync_people").pk)  # the answer polls the run
    expect(overview.locator("#people-sync .ok")).to_have_text("Queued 3 person checks.")
    expect(overview.locator('#engine tr[data-queue="default"] .waiting')).to_have_text("3")  # refreshed at once

    expect(waiting).to_have_text("3")  # the next poll, within 3 s
    assert queue_page.evaluate("window.marker") == 1
    assert queue_page.url == queue_page.url_for("/queue/")
    assert Run.objects.filter(status="queued", job__kind="check_person").count() == 3
    for name in ("Ana Lima", "Bruno Costa", "Carla Dias"):
        expect(queue_page.get_by_text(name).first).to_be_visible()  # each waiting check, named after its person
