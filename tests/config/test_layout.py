"""The layout every page shares: login, logout, language, the operator's time zone, error pages."""

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/runs/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/runs/")


def test_login_page_logs_in_and_returns_to_the_page_asked_for(client, django_user_model):
    django_user_model.objects.create_user("ana", password="pw-123456")
    page = client.get("/accounts/login/?next=/runs/")
    assert page.status_code == 200 and b'name="csrfmiddlewaretoken"' in page.content
    response = client.post("/accounts/login/", {"username": "ana", "password": "pw-123456", "next": "/runs/"})
    assert response.status_code == 302 and response["Location"] == "/runs/"


def test_a_wrong_password_is_an_inline_error(client, django_user_model):
    django_user_model.objects.create_user("ana", password="pw-123456")
    response = client.post("/accounts/login/", {"username": "ana", "password": "nope"})
    assert response.status_code == 200 and b"correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post_and_ends_the_session(viewer_client):
    assert viewer_client.get("/").status_code == 200
    response = viewer_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert viewer_client.get("/").status_code == 302


def test_the_layout_links_the_admin_for_staff_only(viewer_client, staff_client):
    assert b'href="/admin/"' not in viewer_client.get("/").content
    assert b'href="/admin/"' in staff_client.get("/").content


def test_accept_language_picks_portuguese_and_the_switcher_overrides_it(viewer_client):
    page = viewer_client.get("/", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert b'<html lang="pt-br">' in page.content and "Visão geral" in page.content.decode()
    viewer_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = viewer_client.get("/", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert b'<html lang="en">' in page.content


def test_the_language_switcher_works_before_login(client):
    response = client.post("/i18n/setlang/", {"language": "pt-br", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert "Entrar" in client.get("/accounts/login/").content.decode()


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [("Europe/Lisbon", "Europe/Lisbon"), ("Not/AZone", "America/Sao_Paulo"), ("../../etc", "America/Sao_Paulo")],
)
def test_times_are_shown_in_the_browsers_zone_when_it_is_a_real_one(viewer_client, cookie, expected):
    seen = {}

    def probe(request):
        seen["zone"] = timezone.get_current_timezone_name()

    viewer_client.cookies["vigia_tz"] = cookie
    from django.test.signals import template_rendered

    template_rendered.connect(lambda **kw: probe(None), weak=False, dispatch_uid="tz-probe")
    try:
        viewer_client.get("/")
    finally:
        template_rendered.disconnect(dispatch_uid="tz-probe")
    assert seen["zone"] == expected


def test_an_unknown_address_is_a_404_in_the_layout(viewer_client):
    response = viewer_client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Not found" in response.content and b'class="nav"' in response.content


@pytest.mark.urls("tests.config.urls_boom")
def test_a_server_error_is_a_friendly_page_without_the_traceback(client, django_user_model, settings):
    settings.DEBUG = False
    client.force_login(django_user_model.objects.create_user("ana"))
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "secret-internal-detail" not in body and "Traceback" not in body


def test_every_page_carries_the_csrf_token_for_htmx(viewer_client):
    body = viewer_client.get("/").content.decode()
    assert '<meta name="csrf-token" content="' in body and 'src="/static/js/vigia.js"' in body
