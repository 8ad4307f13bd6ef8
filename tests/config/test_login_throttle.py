"""Login throttling: after VIGIA_LOGIN_MAX_FAILURES failed logins for a username, or from an address,
further attempts are refused (429, with the reason) even with the right password, on the dashboard's and
the admin's login pages, in every web process; a success clears the count; the lock ends by itself."""

import re
import time

import httpx
import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client

from config import login_throttle
from tests.support.gunicorn import Gunicorn

LOGIN = "/accounts/login/"
LOCKED = "Too many failed logins"


@pytest.fixture(autouse=True)
def fresh_counts():
    caches["login_throttle"].clear()  # a database table: transactional tests elsewhere may have left rows
    yield
    caches["login_throttle"].clear()


@pytest.fixture
def ana(django_user_model):
    return django_user_model.objects.create_user("ana", password="right-pass-123", is_staff=True)


def attempt(client, password, username="ana", path=LOGIN, address="10.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client):
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_five_failures_lock_the_username_even_for_the_right_password(client, ana):
    for _ in range(5):
        response = attempt(client, "wrong")
        assert response.status_code == 200 and LOCKED not in response.content.decode()
    response = attempt(client, "right-pass-123", address="10.0.0.2")  # another address: the name is locked
    assert response.status_code == 429
    assert LOCKED in response.content.decode() and "15 minutes" in response.content.decode()
    assert 890 <= int(response["Retry-After"]) <= 900
    assert not logged_in(client)
    assert client.get(LOGIN).status_code == 200  # the page itself is still shown


@pytest.mark.django_db
def test_the_username_is_matched_without_regard_to_case(client, ana):
    for name in ("ana", "ANA", "Ana", "aNa", "anA"):
        attempt(client, "wrong", username=name)
    assert attempt(client, "right-pass-123").status_code == 429


@pytest.mark.django_db
def test_a_success_clears_the_count(client, ana):
    for _ in range(4):
        attempt(client, "wrong")
    assert attempt(client, "right-pass-123").status_code == 302 and logged_in(client)
    client.logout()
    for _ in range(4):
        attempt(client, "wrong")
    assert attempt(client, "right-pass-123").status_code == 302 and logged_in(client)


@pytest.mark.django_db
def test_five_failures_from_one_address_lock_that_address_only(client, ana):
    for name in ("root", "admin", "test", "guest", "user"):
        attempt(client, "wrong", username=name, address="203.0.113.9")
    assert attempt(client, "right-pass-123", address="203.0.113.9").status_code == 429
    assert attempt(client, "right-pass-123", address="198.51.100.7").status_code == 302


@pytest.mark.django_db
def test_the_admin_login_shares_the_lock(client, ana):
    for _ in range(3):
        attempt(client, "wrong", path="/admin/login/")
    for _ in range(2):
        attempt(client, "wrong")
    response = attempt(client, "right-pass-123", path="/admin/login/?next=/admin/")
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert 'id="login-form"' in response.content.decode()  # the admin's own login page, with the reason
    assert not logged_in(client)


@pytest.mark.django_db
def test_the_lock_ends_after_the_lockout_period_and_old_failures_no_longer_count(client, ana):
    fifteen_minutes_ago = time.time() - 901
    for _ in range(5):
        login_throttle.record_failure("ana", "10.0.0.1", now=fifteen_minutes_ago)  # locked until a second ago
    for _ in range(4):
        attempt(client, "wrong")  # with the five old ones, nine; but only four in the last 15 minutes
    assert attempt(client, "right-pass-123").status_code == 302 and logged_in(client)


@pytest.mark.django_db(transaction=True)
def test_failures_count_across_web_processes(tmp_path, django_user_model):
    """Three failures through gunicorn (two workers), two in this process: gunicorn then refuses ana."""
    django_user_model.objects.create_user("ana", password="right-pass-123")  # gunicorn runs the test settings too

    def post(http, password):
        page = http.get(LOGIN)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return http.post(LOGIN, data={"username": "ana", "password": password, "csrfmiddlewaretoken": token})

    with Gunicorn(tmp_path, DJANGO_SETTINGS_MODULE="config.test_settings") as web:
        with httpx.Client(base_url=web.url, timeout=10) as http:
            for _ in range(3):
                assert post(http, "wrong").status_code == 200
            for _ in range(2):
                attempt(Client(), "wrong")
            refused = post(http, "right-pass-123")
    assert refused.status_code == 429 and LOCKED in refused.text


@pytest.mark.django_db(transaction=True)
def test_a_missing_cache_table_is_created_on_first_use(client, ana):
    """A deployment that never ran `createcachetable` still logs in, and still counts."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE vigia_cache")
    assert attempt(client, "wrong").status_code == 200
    assert "vigia_cache" in connection.introspection.table_names()
    for _ in range(4):
        attempt(client, "wrong")
    assert attempt(client, "right-pass-123").status_code == 429
