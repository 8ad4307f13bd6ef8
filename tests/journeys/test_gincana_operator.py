"""Issue 15's third journey, in each language: a gincana operator, with a WhatsApp (Wuzapi) channel and the team's
group already set up, adds the organizer's task page as a source on the dashboard (the HTML list kind, its
selectors typed into the kind's own fields), checks it once (the tasks already published are the baseline), and
from the source's Notify panel has the group told about new items. The organizer publishes a task; "Check now"
(the check executed in the test's thread, as a worker would) brings it into the source's latest items without a
reload; the delivery it made is sent (send_delivery, what the queue task runs) and the loopback Wuzapi received
the message with the task's title; the Deliveries list shows it sent. The same pages then fit a phone."""

import re

import pytest
from playwright.sync_api import expect

from channels_app import sending
from channels_app.models import Delivery, Recipient, Subscription
from scheduler.execution import execute_run
from scheduler.models import Run
from scrapers.models import Item, Source
from scrapers.sources.kinds.base import scraper_kinds
from scrapers.topics import BROKEN
from tests.channels_app.support import wuzapi_channel
from tests.journeys.support import LANGUAGES, fits_a_phone, in_language, no_english, said, t
from tests.loopback import organizer
from tests.loopback.server import LoopbackServer, Response
from tests.loopback.wuzapi import FakeWuzapi

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

GROUP = "120363025246125486@g.us"
NEW_TASK = (3, "Tarefa 3: foto da equipe no coreto", "Até as 18h, com a camiseta da equipe")


@pytest.fixture
def wuzapi():
    with FakeWuzapi() as fake:
        yield fake


@pytest.fixture
def organizer_site():
    """The organizer's task page: `site.tasks` is what it lists now (append to publish)."""
    with LoopbackServer() as site:
        site.tasks = [(1, "Tarefa 1: hino da cidade", "Cantar no palco"), (2, "Tarefa 2: receita de bolo", "Fubá")]
        html = {"Content-Type": "text/html; charset=utf-8"}
        site.respond("/tarefas", handler=lambda request: Response(body=organizer.page(*site.tasks), headers=html))
        yield site


def check_now(page, lang, source):
    """Press "Check now" and execute the check it queued, as a worker would."""
    status = page.locator("#source-status")
    status.get_by_role("button", name=t(lang, "Check now"), exact=True).click()
    expect(status.get_by_role("button", name=t(lang, "Checking…"))).to_be_disabled()
    run = Run.objects.get(job=source.job, status=Run.Status.QUEUED)
    expect(status).to_contain_text(t(lang, "Check queued as run #%(run)s.", run=run.pk))
    assert execute_run(run.id) == Run.Status.SUCCEEDED
    expect(status.get_by_role("button", name=t(lang, "Check now"), exact=True)).to_be_enabled(timeout=10_000)
    return run


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_gincana_operator_has_the_group_told_of_each_new_task(browser_page, wuzapi, organizer_site, lang):
    channel = wuzapi_channel(wuzapi, name="WhatsApp da equipe")
    group = Recipient.objects.create(channel=channel, address=GROUP, label="Grupo da Gincana")
    page = in_language(browser_page, lang)

    # --- The organizer's page as a source: the HTML list kind and its own fields.
    page.goto(page.url_for("/sources/new/"))
    expect(page.locator("h1")).to_have_text(t(lang, "New source"))
    form = page.locator("#source-editor form")
    form.get_by_label(t(lang, "Name"), exact=True).fill("Gincana 2026: tarefas")
    html_kind = scraper_kinds.get("html")
    form.get_by_label(t(lang, "Kind"), exact=True).select_option(label=said(lang, html_kind.label))
    form.get_by_label(t(lang, "URL"), exact=True).fill(organizer_site.url + "/tarefas")
    settings = page.locator("#id_config_settings")
    expect(settings.locator("legend")).to_contain_text(said(lang, html_kind.label))
    for setting, selector in organizer.CONFIG.items():
        settings.get_by_label(said(lang, html_kind.Config.base_fields[setting].label), exact=True).fill(selector)
    no_english(page, lang, ["New source", "Kind", "Headers", "Items", "Title", "Stable id", "Edit as JSON", "Save"])
    form.get_by_role("button", name=t(lang, "Save"), exact=True).click()
    page.wait_for_url(re.compile(r"/sources/\d+/$"))
    source = Source.objects.get()
    assert (source.kind, source.url, source.config) == ("html", organizer_site.url + "/tarefas", organizer.CONFIG)
    expect(page.locator("h1")).to_have_text("Gincana 2026: tarefas")
    expect(page.locator("#source-last-check")).to_contain_text(t(lang, "Not checked yet."))
    latest = page.locator("#source-latest tbody tr")
    expect(latest).to_have_text([t(lang, "No items yet.")])

    # The first check: the tasks already published are the baseline (stored, not announced).
    check_now(page, lang, source)
    expect(latest).to_have_count(2)
    expect(page.locator("#source-latest")).to_contain_text("Tarefa 2: receita de bolo")
    no_english(page, lang, ["Latest items", "First seen", "Check now", "Health", "Last check", "Recent checks"])

    # --- Notify: the group hears of new items.
    panel = page.locator("#notify")
    expect(panel).to_contain_text(t(lang, "No one is notified about this yet."))
    panel.locator("select[name=recipient]").select_option(str(group.pk))
    panel.get_by_label(t(lang, "Changed item"), exact=True).uncheck()
    panel.get_by_label(said(lang, BROKEN[0]), exact=True).uncheck()
    expect(panel.get_by_label(t(lang, "New item"), exact=True)).to_be_checked()
    no_english(page, lang, ["Notify", "New item", "Changed item", "No one is notified about this yet."])
    panel.get_by_role("button", name=t(lang, "Notify"), exact=True).click()
    told = t(lang, "%(recipient)s on %(channel)s will be notified.", recipient=group.label, channel=channel.name)
    expect(panel).to_contain_text(told)
    expect(panel.locator("tbody tr", has_text=group.label)).to_contain_text(t(lang, "New item"))
    subscription = Subscription.objects.get()
    assert (subscription.recipient_id, subscription.topic, subscription.event_types) == (
        group.pk,
        source.topic,
        ["item.new"],
    )
    no_english(page, lang, ["%(recipient)s on %(channel)s will be notified.", "Who", "Events"])

    # --- The organizer publishes a task; Check now brings it in, live.
    page.evaluate("window.stillTheSamePage = true")
    organizer_site.tasks.append(NEW_TASK)
    check_now(page, lang, source)
    expect(latest).to_have_count(3)
    expect(latest.first).to_contain_text(NEW_TASK[1])  # newest first
    assert page.evaluate("window.stillTheSamePage") is True  # no reload
    assert Item.objects.filter(source=source).count() == 3

    # The delivery the new task made, sent as the queue's task sends it.
    delivery = Delivery.objects.get()
    assert (delivery.recipient_id, delivery.status, delivery.event.type) == (group.pk, "pending", "item.new")
    assert sending.send_delivery(delivery.pk) == "sent"
    [message] = wuzapi.wait_for_messages(1)
    assert message.phone == GROUP
    assert NEW_TASK[1] in message.body and "Gincana 2026: tarefas" in message.body

    # --- Deliveries: the message, sent.
    page.locator("nav.nav").get_by_role("link", name=t(lang, "Deliveries"), exact=True).click()
    page.wait_for_url(page.url_for("/deliveries/"))
    expect(page.locator("h1")).to_have_text(t(lang, "Deliveries"))
    row = page.locator("#delivery-rows tbody tr", has_text=group.label)
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text(said(lang, Delivery.Status.SENT.label))
    expect(row).to_contain_text(channel.name)
    expect(row).to_contain_text("item.new")
    no_english(page, lang, ["Deliveries", "Sent", "Recipient", "Attempts", "Channel"])

    # --- The same pages on a phone.
    fits_a_phone(page, lang, [f"/sources/{source.pk}/", "/sources/new/", "/deliveries/", f"/items/?source={source.pk}"])
