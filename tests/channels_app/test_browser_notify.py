"""In a real browser: on a source's page, the Notify panel subscribes a recipient to the events ticked, and the
new line appears in the panel without a reload."""

import pytest
from playwright.sync_api import expect

from channels_app.models import Recipient, Subscription
from scrapers.models import Source
from tests.channels_app.test_channel_views import make_channel

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_recipient_is_subscribed_from_the_source_page_without_a_reload(browser_page):
    page = browser_page
    source = Source.objects.create(name="Gincana 2026", kind="html", url="https://example.org/gincana")
    group = Recipient.objects.create(channel=make_channel(), address="120363000000000000@g.us", label="Grupo Gincana")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(page.url_for(f"/sources/{source.pk}/"))
    panel = page.locator("#notify")
    expect(panel).to_contain_text("No one is notified about this yet.")
    page.evaluate("window.stillTheSamePage = true")

    panel.locator("select[name=recipient]").select_option(str(group.pk))
    panel.get_by_label("Changed item").uncheck()
    panel.get_by_label("Source broken or recovered").uncheck()
    expect(panel.get_by_label("New item")).to_be_checked()
    panel.get_by_role("button", name="Notify").click()

    row = page.locator("#notify tbody tr", has_text="Grupo Gincana")
    expect(row).to_contain_text("New item")
    expect(page.locator("#notify")).to_contain_text("Grupo Gincana on WhatsApp will be notified.")
    expect(row.locator("td").nth(1)).to_have_attribute("data-label", "Events")  # stacked on a phone
    assert page.evaluate("window.stillTheSamePage") is True
    subscription = Subscription.objects.get()
    assert (subscription.recipient_id, subscription.topic, subscription.event_types) == (
        group.pk,
        source.topic,
        ["item.new"],
    )

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Remove").click()
    expect(page.locator("#notify")).to_contain_text("No one is notified about this yet.")
    assert page.evaluate("window.stillTheSamePage") is True and not Subscription.objects.exists()
