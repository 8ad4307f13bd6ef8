"""In a real browser: building a source with Preview before saving, and scraped markup shown as text."""

import re

import pytest

from scrapers.models import Item, Source
from tests.loopback.organizer import CONFIG, make_source, page
from tests.loopback.server import LoopbackServer

pytestmark = pytest.mark.django_db(transaction=True)

XSS = "<img src=x onerror=alert(1)>"


def test_preview_shows_the_extracted_items_before_saving(browser_page):
    with LoopbackServer() as site:
        site.respond("/tarefas", body=page((1, "Audiência às 14h", "sala 3"), (2, "Prazo de contestação", "até sexta")))
        browser = browser_page
        browser.goto(browser.url_for("/sources/new/"))
        browser.fill("#id_name", "Organizer tasks")
        browser.select_option("#id_kind", "html")
        browser.fill("#id_url", site.url + "/tarefas")
        for setting, value in CONFIG.items():  # the html kind's own fields, swapped in by the kind select
            browser.fill(f"#id_config-{setting}", value)

        browser.get_by_role("button", name="Preview").click()
        rows = browser.locator("#source-preview tr.preview-item")
        rows.first.wait_for()
        assert rows.count() == 2
        assert "Audiência às 14h" in rows.nth(0).inner_text()
        assert "Prazo de contestação" in rows.nth(1).inner_text()
        assert "2 items extracted" in browser.locator("#source-preview").inner_text()
        assert not Source.objects.exists()  # a preview saves nothing
        assert browser.input_value("#id_name") == "Organizer tasks"  # what was typed is kept

        browser.get_by_role("button", name="Save").click()
        browser.wait_for_url(re.compile(r"/sources/\d+/$"))
        saved = Source.objects.get()
        assert browser.url == browser.url_for(f"/sources/{saved.pk}/")
        assert saved.name == "Organizer tasks" and saved.config == CONFIG and saved.job_id
        assert browser.locator("h1").inner_text() == "Organizer tasks"


def test_a_scraped_title_with_markup_is_shown_as_text_and_runs_nothing(browser_page):
    source = make_source("http://127.0.0.1:9/tarefas")
    item = Item.objects.create(source=source, key="x", title=XSS, body=XSS, content_hash="h")
    dialogs = []
    browser = browser_page
    browser.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    for path, selector in [("/items/", "a.item-title"), (f"/items/{item.pk}/", "h1.item-title")]:
        browser.goto(browser.url_for(path))
        title = browser.locator(selector).first
        assert title.inner_text() == XSS  # the markup, literally, as text
        assert browser.locator('img[src="x"]').count() == 0
        browser.wait_for_timeout(300)  # an injected image's onerror would have fired by now
    assert dialogs == []
