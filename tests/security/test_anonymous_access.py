"""Anonymous visitors see nothing: every routed URL (walked from the resolver, so new pages are covered
as soon as they exist), requested with GET, POST and as HTMX, is sent to a login page or refused, never
answered with data, and changes nothing. Detail pages are requested with the ids of real objects whose
every displayed field carries a marker, so a page that leaked would show it."""

import json
import re

import pytest
from django.test import Client

from tests.security import walk, world

pytestmark = pytest.mark.django_db

MARK = "LEAKMARK"
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")
REFUSED = {401, 403, 404, 405}

# The only pages an anonymous visitor may get a page from (status < 500, still without any data), and why.
PUBLIC = {
    "accounts/login/": "the login page",
    "admin/login/": "the admin's login form (the admin's own views send anonymous visitors there)",
    "i18n/setlang/": "the language switcher of the login page: sets a cookie, redirects, shows nothing",
    "healthz": "load balancers and probes have no session: a JSON status without names, ids or secrets",
    "api/v1/openapi.json": "the API's description (operations and schemas), no data; the API itself needs a token",
}
# Static files are served by WhiteNoise's middleware, outside the URL resolver, so they are not walked.


@pytest.fixture
def site(db, settings):
    settings.VIGIA_METRICS_TOKEN = "metrics-token-for-tests"  # /metrics exists and must ask for it
    data = world.build(lambda label: f"{MARK} {label}")
    return data, walk.pages(data)


def leaked(response, data):
    text = response.content.decode(errors="replace") + json.dumps(dict(response.headers.items()))
    return [value for value in (MARK, *data.secrets) if value in text]


def verdict(page, response, data):
    """What is wrong with an anonymous request's response, or ''."""
    if response.status_code >= 500 and not (page.route == "healthz" and response.status_code == 503):
        return f"server error {response.status_code}"  # (/healthz says 503 here: no scheduler is running)
    if found := leaked(response, data):
        return f"shows {found}"
    if page.route in PUBLIC:
        return ""
    if response.status_code in REFUSED:
        return ""
    if response.status_code == 302 and response["Location"].startswith(LOGIN_PAGES):
        return ""
    return f"answered {response.status_code} {response.get('Location', '')}".strip()


def problems(site, method, **extra):
    data, pages = site
    client = Client()
    found = []
    for page in pages:
        response = getattr(client, method)(page.path, **extra)
        if problem := verdict(page, response, data):
            found.append(f"{method.upper()} {page.path} ({page.route}): {problem}")
    return found


def test_the_walk_requests_every_detail_page_with_data_behind_it(site, admin_client):
    """The control: the same detail pages show the marked data to an operator."""
    data, pages = site
    details = [page for page in pages if re.fullmatch(r"(?:[\w-]+/)+<int:pk>/", page.route)]
    assert {page.route.split("/")[-3] for page in details} >= set(data.objects) - {"subscriptions", "users"}
    for page in details:
        response = admin_client.get(page.path)
        assert response.status_code == 200, page.path
        assert MARK in response.content.decode(), page.path
    assert len(pages) > 100  # the admin's pages are walked too


def test_anonymous_gets_are_sent_to_log_in_or_refused(site):
    assert problems(site, "get") == []


def test_anonymous_htmx_requests_are_sent_to_log_in_or_refused(site):
    assert problems(site, "get", HTTP_HX_REQUEST="true") == []


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_anonymous_writes_are_refused_and_change_nothing(site, method):
    before = world.snapshot()
    assert problems(site, method, HTTP_HX_REQUEST="true") == []
    assert problems(site, method) == []
    assert world.snapshot() == before


def test_every_public_exception_is_still_routed(site):
    """The exceptions list stays short and true: each names a page that exists."""
    _data, pages = site
    assert set(PUBLIC) <= {page.route for page in pages}


def test_the_public_pages_show_no_data(site):
    data, _pages = site
    client = Client()
    health = client.get("/healthz")
    assert health.status_code in (200, 503) and health["Content-Type"] == "application/json"
    assert set(health.json()) == {"status", "checks"} and not leaked(health, data)
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200 and "paths" in document.json() and not leaked(document, data)
    login = client.get("/accounts/login/")
    assert login.status_code == 200 and b'name="password"' in login.content and not leaked(login, data)


def test_metrics_need_their_token(site):
    data, _pages = site
    client = Client()
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Bearer {data.secrets[1]}"}):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401 and not leaked(response, data)
