"""The database unreachable: pages answer with a friendly 503 (and Retry-After), never a traceback; other
server errors keep the usual 500 page. First for real (gunicorn pointed at a port nothing listens on),
then in-process for the distinction between the two."""

import re

import httpx
import pytest
from django.db import OperationalError
from django.urls import include, path

from tests.support.gunicorn import Gunicorn

FRIENDLY = "Vigia cannot reach its database right now"
REFUSING = "postgres://postgres@127.0.0.1:1/none"  # port 1: connection refused at once


def database_down(request):
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: secret-internal-detail')


def other_failure(request):
    raise RuntimeError("secret-internal-detail")


# This module is also the URLconf of the in-process tests below (@pytest.mark.urls).
urlpatterns = [path("down/", database_down), path("boom/", other_failure), path("", include("config.urls"))]
handler500 = "config.error_pages.server_error"


def assert_friendly_503(response):
    assert response.status_code == 503, response.text[:500]
    assert FRIENDLY in response.text and response.headers["Retry-After"] == "30"
    assert "Traceback" not in response.text and "OperationalError" not in response.text
    assert "secret-internal-detail" not in response.text and "127.0.0.1" not in response.text
    assert response.headers["Content-Security-Policy"]  # still under the same policy


def test_pages_answer_503_when_the_database_refuses_connections(tmp_path):
    with Gunicorn(tmp_path, DJANGO_SETTINGS_MODULE="config.test_settings", DATABASE_URL=REFUSING) as web:
        with httpx.Client(base_url=web.url, timeout=10) as http:
            # The login form itself needs no database: it is still shown.
            page = http.get("/accounts/login/")
            assert page.status_code == 200 and "Log in" in page.text
            # Logging in does: the operator is told to try again shortly.
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            assert_friendly_503(
                http.post("/accounts/login/", data={"username": "ana", "password": "x", "csrfmiddlewaretoken": token})
            )
            # An operator already logged in (a session cookie) asking for any page.
            http.cookies.set("sessionid", "k" * 32)
            for address in ("/", "/jobs/", "/accounts/login/"):
                assert_friendly_503(http.get(address))
    assert "Traceback" in web.output()  # logged for the administrator, not shown to the visitor


@pytest.mark.urls("tests.config.test_db_unavailable")
@pytest.mark.django_db
def test_a_database_error_in_a_view_is_a_503_and_any_other_error_still_a_500(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("ana"))
    client.raise_request_exception = False
    assert_friendly_503(client.get("/down/"))
    other = client.get("/boom/")
    assert other.status_code == 500 and "Something went wrong" in other.content.decode()
    assert FRIENDLY not in other.content.decode() and "Retry-After" not in other
