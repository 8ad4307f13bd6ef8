"""In a real browser: the lists of things that change on their own refresh while they are open, with no
reload, and stop polling while the tab is hidden."""

import time

import pytest
from playwright.sync_api import expect

from scrapers.models import MonitoredPerson

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_persons_first_check_turns_done_on_the_open_list_without_a_reload(browser_page):
    page = browser_page
    person = MonitoredPerson.objects.create(name="Ana Souza")
    page.goto(page.url_for("/people/?q=Ana"))
    badge = page.locator("#people-results tbody tr", has_text="Ana Souza").locator(".badge")
    expect(badge).to_have_text("pending")
    page.evaluate("window.stillTheSamePage = true")

    MonitoredPerson.objects.filter(pk=person.pk).update(first_check=MonitoredPerson.FirstCheck.DONE)

    expect(badge).to_have_text("done", timeout=15_000)
    expect(badge).to_have_class("badge succeeded")
    assert page.url == page.url_for("/people/?q=Ana")  # the filter kept, no history entry
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.input_value("#id_q") == "Ana"


def test_a_hidden_tab_does_not_poll(browser_page):
    page = browser_page
    MonitoredPerson.objects.create(name="Ana Souza")
    page.goto(page.url_for("/people/"))
    expect(page.locator("#people-results[data-live]")).to_have_count(1)
    page.evaluate("Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true})")
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/people/" in request.url else None)
    time.sleep(12)
    page.evaluate("0")  # let queued request events arrive
    assert polls == []


def test_a_deeper_page_stays_still(browser_page):
    people = [MonitoredPerson.objects.create(name=f"Pessoa {i:03d}") for i in range(2)]
    page = browser_page
    page.goto(page.url_for(f"/people/?after={people[0].pk}"))
    expect(page.locator("#people-results")).to_have_count(1)
    expect(page.locator("#people-results[data-live]")).to_have_count(0)
