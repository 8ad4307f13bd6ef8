"""In a real browser, signed in with each role: a viewer's source page has no action button (no "Check now",
no "Save" or "Preview", the form disabled) and no admin menu entries; an operator's has them, and "Check now"
works. The same page, the same session cookie flow a person uses."""

import pytest
from playwright.sync_api import expect

from scheduler.shared import roles
from scrapers.models import Source
from tests.support.browser import PASSWORD
from tests.support.web import user_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(chromium, live_server, django_user_model, username, role):
    user = user_with_role(django_user_model, username, role)
    user.set_password(PASSWORD)
    user.save()
    context = chromium.new_context(locale="en-US", timezone_id="America/Sao_Paulo")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(live_server.url + "/")
    return context, page


def test_a_viewer_sees_no_action_buttons_and_an_operator_does(chromium, live_server, django_user_model):
    source = Source.objects.create(name="Agenda", kind="html", url="https://example.org/", config={"items": "li"})
    url = f"{live_server.url}/sources/{source.pk}/"

    context, viewer = signed_in(chromium, live_server, django_user_model, "vera", roles.VIEWER)
    try:
        viewer.goto(url)
        expect(viewer.get_by_role("heading", name="Agenda")).to_be_visible()
        for name in ("Check now", "Save", "Preview"):
            expect(viewer.get_by_role("button", name=name)).to_have_count(0)
        expect(viewer.get_by_role("textbox", name="Name")).to_be_disabled()  # the form is shown, read-only
        expect(viewer.locator("nav a", has_text="Users")).to_have_count(0)
        expect(viewer.locator("nav a", has_text="API tokens")).to_have_count(0)
    finally:
        context.close()

    context, operator = signed_in(chromium, live_server, django_user_model, "otto", roles.OPERATOR)
    try:
        operator.goto(url)
        for name in ("Check now", "Save", "Preview"):
            expect(operator.get_by_role("button", name=name)).to_be_visible()
        expect(operator.locator("nav a", has_text="Users")).to_have_count(0)  # users are the admin role's
        operator.get_by_role("button", name="Check now").click()
        expect(operator.locator("#source-status")).to_contain_text("Check queued as run #")
    finally:
        context.close()
