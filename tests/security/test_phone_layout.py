"""The dashboard on a phone (390×844): every page an operator can open fits the viewport, however long the
text it shows (unbroken names, URLs, errors), so nothing scrolls sideways; tables become stacked cards and the
menu is a compact "Menu" whose links, the language switcher and logout all stay reachable. A screenshot of each
page is saved under the test's tmp_path for a person to look at; nothing compares images."""

import re

import pytest
from django.test import Client

from tests.security import walk, world
from tests.support.browser import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH, HEIGHT = 390, 844
LONG = "x" * 200  # one unbroken word, far wider than the phone
LINK = "https://example.org/" + "y" * 200 + "?q=" + "z" * 100
SHORT_FIELDS = {"channel name": 100, "worker": 120, "run worker": 120}  # their columns' max_length


def text(label):
    return (f"{label} {LONG} <b>&amp;</b> {label} " + "w" * 80)[: SHORT_FIELDS.get(label, 200) - 1]


@pytest.fixture
def phone(chromium, live_server, django_user_model):
    """A logged-in operator on a 390×844 phone (the shared browser_page is desktop-sized)."""
    django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True, is_superuser=True)
    context = chromium.new_context(
        viewport={"width": WIDTH, "height": HEIGHT},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
        timezone_id="America/Sao_Paulo",
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.url_for = lambda path: live_server.url + path
    page.goto(page.url_for("/accounts/login/"))
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(page.url_for("/"))
    yield page
    context.close()


@pytest.fixture
def data(db):
    return world.build(text, link=LINK)


def dashboard_pages(data, admin_user):
    """Every routed dashboard page (GET, a whole HTML page): not the admin, the API, login/logout, downloads."""
    client = Client()
    client.force_login(admin_user)
    paths = []
    for page in walk.pages(data):
        if page.route.startswith(("admin/", "api/", "accounts/", "i18n/")) or page.route in ("healthz", "metrics"):
            continue
        response = client.get(page.path)
        html = response.status_code == 200 and response["Content-Type"].startswith("text/html")
        if html and b"<html" in response.content:  # a page, not an HTMX fragment that a page loads into itself
            paths.append(page.path)
    return paths


WIDTHS = """() => {
  const doc = document.documentElement, vw = doc.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > vw + 1 && !el.closest('pre'))
      wide.push(el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ').join('.') : ''));
  }
  return {html: doc.scrollWidth, body: document.body.scrollWidth, wide: wide.slice(0, 5)};
}"""


def test_every_page_fits_a_phone(phone, data, admin_user, tmp_path):
    page = phone
    paths = dashboard_pages(data, admin_user)
    assert len(paths) > 25
    too_wide = {}
    for path in paths:
        page.goto(page.url_for(path))
        page.wait_for_load_state("networkidle")  # fragments HTMX loads on page load are in too
        name = re.sub(r"\W+", "_", path).strip("_") or "overview"
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        widths = page.evaluate(WIDTHS)
        if widths["html"] > WIDTH or widths["body"] > WIDTH:
            too_wide[path] = widths
    report = "\n".join(f"{path}: {widths}" for path, widths in too_wide.items())
    assert not too_wide, f"wider than {WIDTH} px (screenshots in {tmp_path}):\n{report}"


def test_tables_become_cards_with_their_column_names(phone, data):
    page = phone
    page.goto(page.url_for(f"/sources/{data.pk_for('sources')}/"))
    page.wait_for_load_state("networkidle")
    cell = page.locator("#source-latest tbody td").first
    assert cell.get_attribute("data-label") == "Title"
    assert page.evaluate("getComputedStyle(document.querySelector('#source-latest tbody tr')).display") == "block"
    label = page.evaluate("getComputedStyle(document.querySelector('#source-latest tbody td'), '::before').content")
    assert "Title" in label
    page.goto(page.url_for("/items/"))
    page.wait_for_load_state("networkidle")
    box = page.locator(".table-wrap").first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH  # the source column is in the card, not cut off
    assert page.locator(".table-wrap tbody td[data-label]").count() > 0


def test_the_compact_menu_reaches_every_link(phone, tmp_path):
    page = phone
    links = page.locator("nav.nav a")
    assert links.count() >= 10
    assert not links.first.is_visible()  # compact: folded away until asked for
    page.get_by_role("button", name="Menu").click()
    for index in range(links.count()):
        link = links.nth(index)
        assert link.is_visible(), link.inner_text()
        box = link.bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= WIDTH and box["y"] + box["height"] <= HEIGHT
    assert page.locator("#language").is_visible() and page.get_by_role("button", name="Log out").is_visible()
    page.screenshot(path=str(tmp_path / "menu.png"))
    with page.expect_navigation():
        page.locator("nav.nav a", has_text="Items").click()
    assert page.url.endswith("/items/")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
