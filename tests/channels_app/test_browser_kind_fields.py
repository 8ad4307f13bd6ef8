"""In a real browser: the new-channel page swaps the settings fields when the kind changes (HTMX), "Edit as JSON"
shows the JSON textarea instead of the fields (CSS only), and the fields typed are what the channel stores."""

import re

import pytest
from playwright.sync_api import expect

from channels_app.models import Channel
from tests.loopback.wuzapi import FakeWuzapi

pytestmark = pytest.mark.django_db(transaction=True)


def test_switching_the_kind_swaps_the_fields_and_saving_stores_them(browser_page):
    page = browser_page
    with FakeWuzapi() as wuzapi:
        page.goto(page.url_for("/channels/new/"))
        expect(page.locator("#id_config_settings")).to_contain_text("Choose a kind to see its settings.")

        page.select_option("#id_kind", "webhook")
        expect(page.locator("#id_config-url")).to_be_visible()
        expect(page.locator("#id_config-secret")).to_have_attribute("type", "password")

        page.select_option("#id_kind", "wuzapi")
        expect(page.locator("#id_config-base_url")).to_be_visible()
        expect(page.locator("#id_config-url")).to_have_count(0)
        expect(page.locator("#id_config")).to_be_hidden()  # the JSON textarea waits behind its toggle

        page.check("#id_config_as_json")
        expect(page.locator("#id_config")).to_be_visible()
        expect(page.locator("#id_config-base_url")).to_be_hidden()
        expect(page.locator("#id_config-token")).to_be_visible()  # secrets are never part of the JSON
        page.uncheck("#id_config_as_json")

        page.fill("#id_name", "Equipe")
        page.fill("#id_config-base_url", wuzapi.url)
        page.fill("#id_config-token", wuzapi.token)
        page.click("#channel-form button.primary")
        page.wait_for_url(re.compile(r"/channels/\d+/$"))

        channel = Channel.objects.get()
        assert (channel.kind, channel.config, channel.secrets) == (
            "wuzapi",
            {"base_url": wuzapi.url.rstrip("/")},
            {"token": wuzapi.token},
        )
        expect(page.locator("#id_config-base_url")).to_have_value(wuzapi.url.rstrip("/"))
        expect(page.locator("#id_config-token")).to_have_value("")
        expect(page.locator("label[for=id_config-token] .badge")).to_have_text("set")
        assert wuzapi.token not in page.content()
