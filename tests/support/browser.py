"""Headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright against pytest-django's live
server. Browser tests must run in CI, so a missing browser fails them rather than skipping."""

import os

import pytest

CHROMIUM = os.environ.get("VIGIA_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-pass-123"


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run deploy/browser.sh (apt-get install chromium)"
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls in the test body are
    # still synchronous, which is what this flag tells Django.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, live_server, django_user_model):
    """A fresh browser context logged in as a staff operator; `page.url_for(path)` makes absolute URLs."""
    django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True, is_superuser=True)
    context = chromium.new_context(locale="en-US", timezone_id="America/Sao_Paulo")
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
