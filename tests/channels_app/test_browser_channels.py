"""In a real browser: a Wuzapi channel created through the page, a recipient added, "send test" answered
inline without a reload (and the message at the loopback Wuzapi), and a template's preview following
what is typed."""

import re

import pytest
from playwright.sync_api import expect

from channels_app.models import Channel, Delivery, MessageTemplate, Recipient
from tests.loopback.wuzapi import FakeWuzapi

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_a_wuzapi_channel_add_a_recipient_and_send_a_test(browser_page):
    page = browser_page
    with FakeWuzapi() as wuzapi:
        page.goto(page.url_for("/channels/new/"))
        page.fill("#id_name", "Equipe")
        page.select_option("#id_kind", "wuzapi")  # its fields come in (HTMX)
        page.fill("#id_config-base_url", wuzapi.url)
        page.fill("#id_config-token", wuzapi.token)
        page.click("#channel-form button.primary")
        page.wait_for_url(re.compile(r"/channels/\d+/$"))
        channel = Channel.objects.get()
        assert channel.secrets == {"token": wuzapi.token}
        assert wuzapi.token not in page.content()
        expect(page.locator("label[for=id_config-token] .badge")).to_have_text("set")

        page.click("text=Add recipient")
        page.fill("#id_address", "5511987654321")
        page.fill("#id_label", "Plantão")
        page.click("#recipient-form button.primary")
        page.wait_for_url(re.compile(r"/recipients/\d+/$"))
        assert Recipient.objects.get().channel == channel

        page.goto(page.url_for(f"/channels/{channel.pk}/"))
        expect(page.locator("#id_address")).to_have_value("")  # nothing typed for the test: pick the recipient
        page.select_option("#id_recipient", label="Plantão — 5511987654321")
        page.evaluate("window.notReloaded = true")
        page.click("#test-form button.primary")
        expect(page.locator("#test-result")).to_contain_text("Test message sent.")
        assert page.evaluate("window.notReloaded") is True  # answered inline

        (message,) = wuzapi.wait_for_messages(1)
        assert message.phone == "5511987654321" and message.token == wuzapi.token
        assert message.id == Delivery.objects.get().idempotency_key
        assert Recipient.objects.count() == 1  # the test added none


def test_the_template_preview_follows_what_is_typed(browser_page):
    template = MessageTemplate.objects.create(name="item.new", subject="{{ title }}", body="{{ source_name }}")
    page = browser_page
    page.goto(page.url_for(f"/templates/{template.pk}/"))
    expect(page.locator("#template-preview .preview-text")).to_have_text("Diário Oficial")

    page.locator("#id_body").fill("Novo: {{ title }} <b>{{ url }}</b>")
    expect(page.locator("#template-preview .preview-text")).to_have_text(
        "Novo: Edital nº 12/2026 <b>https://example.org/edital-12</b>"
    )
    page.locator("#id_body").fill("{% if %}")
    expect(page.locator("#template-preview .error")).to_contain_text("Template error")

    assert MessageTemplate.objects.get(pk=template.pk).body == "{{ source_name }}"  # typing saves nothing
