"""Stored XSS, in a real browser: scraped titles and bodies, person, job, source, channel and recipient
names, template text (and its live preview), publication text, run errors and tracebacks, delivery
errors all carry script payloads, and `javascript:` links stand where scraped URLs go. Every dashboard
page that shows them (walked from the URL resolver: lists, detail pages, overview, queue) and the admin's
lists and change forms must render them as inert text: no dialog opens, no element or handler from a
payload exists in the page, no `javascript:` link is clickable, and the payload reads literally."""

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from tests.security import walk, world

pytestmark = pytest.mark.django_db(transaction=True)

TAGS = "<img src=x onerror=alert(1)>\"><script>alert(2)</script>'><svg onload=alert(3)>"
TEMPLATE_SYNTAX = "{{7*7}}"  # must be shown as typed, never evaluated on the server
LINK = "javascript:alert(4)"


def text(label):
    # A message template is meant to contain template syntax, so its text gets only the HTML payloads.
    return f"{label} {TAGS}" + ("" if label.startswith("template") else f" {TEMPLATE_SYNTAX}")


# What a payload would leave in the page if any of it were interpreted as HTML.
INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on')) found.push(`${el.tagName} ${attr.name}`);
      if (['href', 'src', 'action', 'formaction'].includes(attr.name)
          && attr.value.trim().toLowerCase().startsWith('javascript:')) found.push(`${el.tagName} ${attr.name}`);
    }
  }
  for (const el of document.querySelectorAll('img[src="x"], svg[onload]')) found.push(el.outerHTML);
  for (const el of document.scripts) if (el.textContent.includes('alert(')) found.push('script');
  return found;
}"""


def shown_pages(data, admin_client):
    """The pages to look at: every routed dashboard page an operator can open, the admin's lists and
    change forms; actions (POST-only), logout, the language switch and the API are left out."""
    pages = []
    for page in walk.pages(data):
        route = page.route
        if route.startswith(("api/", "accounts/", "i18n/")) or route in ("healthz", "metrics"):
            continue
        if route.startswith("admin/") and not re.fullmatch(r"admin/\w+/\w+/(<path:object_id>/change/)?", route):
            continue
        response = admin_client.get(page.path)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):  # not downloads
            pages.append(page.path)
    return pages


@pytest.fixture
def payloads(db):
    return world.build(text, link=LINK)


def watch_dialogs(page):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(f"{page.url}: {dialog.message}"), dialog.dismiss()))
    return dialogs


def test_payloads_render_inert_on_every_page(browser_page, payloads, admin_user):
    page = browser_page
    dialogs = watch_dialogs(page)
    admin = Client()
    admin.force_login(admin_user)
    paths = shown_pages(payloads, admin)
    assert len(paths) > 30
    injected, not_literal = {}, []
    for path in paths:
        page.goto(page.url_for(path))
        page.wait_for_load_state("networkidle")  # HTMX fragments loaded on page load are in too
        if found := page.evaluate(INJECTED):
            injected[path] = found
        shown = page.locator("body").inner_text()
        detail = re.fullmatch(r"/([\w-]+)/\d+/", path)
        if detail and not ("<img src=x onerror=alert(1)>" in shown and "alert(2)" in shown):
            not_literal.append(path)
        if detail and detail[1] == "jobs" and TEMPLATE_SYNTAX not in shown:
            not_literal.append(path)
    assert dialogs == []
    assert injected == {}
    assert not_literal == []  # detail pages show the payloads as text


def test_the_template_preview_shows_typed_markup_as_text(browser_page, payloads):
    page = browser_page
    dialogs = watch_dialogs(page)
    template = payloads.objects["templates"]
    page.goto(page.url_for(f"/templates/{template.pk}/"))
    page.locator("#id_subject").fill("{{ title }} " + TAGS)
    page.locator("#id_body").fill(TAGS + " {{ title }}")
    expect(page.locator("#template-preview .preview-text")).to_contain_text("<img src=x onerror=alert(1)>")
    expect(page.locator("#template-preview .preview-subject")).to_contain_text("<svg onload=alert(3)>")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(INJECTED) == []
    assert dialogs == []
