"""Every state-changing request without a CSRF token is refused: an operator's session is logged in
(a superuser, so no permission check stands in for the CSRF check), and every routed URL (walked from
the resolver, so new pages are covered as soon as they exist) gets POST, PUT, PATCH and DELETE, plain
and as HTMX, with no token: 403, and no row of any table changes. The one exemption is the API, which
authenticates by bearer token and ignores cookies: there the logged-in session must not count either."""

import pytest
from django.middleware.csrf import get_token
from django.test import Client

from channels_app.models import Message
from scheduler.models import Job
from tests.security import walk, world

pytestmark = pytest.mark.django_db

# Token-authenticated, cookie-less routes: CSRF does not apply (browsers do not send bearer tokens by
# themselves). Each must still refuse the session: 401 without a token, or not accept the method at all.
BEARER_API = "api/v1/"


@pytest.fixture
def operator(django_user_model):
    user = django_user_model.objects.create_superuser("csrf-operator", "op@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.fixture
def site(db):
    data = world.build(lambda label: f"CSRF {label}")
    return data, walk.pages(data)


def refusal_problem(page, response):
    if page.route.startswith(BEARER_API):
        if page.route == BEARER_API + "openapi.json" and response.status_code == 200:
            return ""  # a read-only document, whatever the method
        ok = response.status_code in (401, 403, 404, 405)
        return "" if ok else f"the session was accepted ({response.status_code})"
    if response.status_code != 403:
        return f"answered {response.status_code} without a CSRF token"
    if b"CSRF" not in response.content:
        return "refused, but not for the missing CSRF token"
    return ""


@pytest.mark.parametrize(
    ("method", "htmx"), [("post", False), ("post", True), ("put", False), ("patch", False), ("delete", True)]
)
def test_writes_without_a_csrf_token_are_refused_and_change_nothing(site, operator, method, htmx):
    _data, pages = site
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_REFERER": "http://testserver/"} if htmx else {}
    before = world.snapshot()
    problems = []
    for page in pages:
        response = getattr(operator, method)(page.path, {"name": "changed"}, **headers)
        if problem := refusal_problem(page, response):
            problems.append(f"{method.upper()} {page.path} ({page.route}): {problem}")
    assert problems == []
    assert world.snapshot() == before


def test_a_wrong_csrf_token_is_refused_too(site, operator):
    data, _pages = site
    job = data.objects["jobs"]
    operator.get("/jobs/")  # sets the CSRF cookie
    response = operator.post(f"/jobs/{job.pk}/pause/", HTTP_X_CSRFTOKEN="x" * 32, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).enabled


def test_the_same_request_with_the_token_goes_through(site, operator):
    """The control: the refusals above are the missing token's doing, not the client's."""
    data, _pages = site
    job = data.objects["jobs"]
    page = operator.get(f"/jobs/{job.pk}/")
    token = get_token(page.wsgi_request)
    response = operator.post(f"/jobs/{job.pk}/pause/", HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert not Job.objects.get(pk=job.pk).enabled


def test_the_api_does_not_take_the_session_instead_of_a_token(site, operator):
    """Logged in, with a valid CSRF token even: the API still wants its bearer token."""
    operator.get("/")
    token = operator.cookies["csrftoken"].value
    body = '{"channel": "x", "service": "s", "key": "k", "body": "hi"}'
    create = operator.post("/api/v1/messages", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert create.status_code == 401
    message = Message.objects.get()
    for response in (operator.get(f"/api/v1/messages/{message.pk}"), operator.delete(f"/api/v1/messages/{message.pk}")):
        assert response.status_code == 401
    assert Message.objects.count() == 1 and Message.objects.get().status == Message.Status.SCHEDULED
