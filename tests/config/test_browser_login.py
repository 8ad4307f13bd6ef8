import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_log_in_and_switch_to_portuguese(browser_page):
    page = browser_page
    assert page.locator("nav.nav").is_visible()
    with page.expect_navigation():
        page.select_option("#language", "pt-br")
    assert page.locator("html").get_attribute("lang") == "pt-br"
    assert page.locator("nav.nav a").first.inner_text() == "Visão geral"
