"""Login throttling per (username, address) pair: after VIGIA_LOGIN_MAX_FAILURES failed logins the pair waits
(15 s, then 30, 60… up to 15 minutes) and tries meanwhile are refused (429, with the reason) even with the right
password, on the dashboard's and the admin's login pages, in every web process; a colleague behind the same
address, or the owner elsewhere, is never held up; a success clears the count; old failures are forgotten;
every failure and refusal is logged, never the password."""

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
def test_five_failures_make_the_pair_wait_even_for_the_right_password(client, ana):
    for _ in range(4):
        response = attempt(client, "wrong")
        assert response.status_code == 200 and LOCKED not in response.content.decode()
    attempt(client, "wrong")  # the fifth: now the pair waits 15 s
    response = attempt(client, "right-pass-123")
    assert response.status_code == 429
    assert LOCKED in response.content.decode() and "15 seconds" in response.content.decode()
    assert 13 <= int(response["Retry-After"]) <= 15
    assert not logged_in(client)
    assert client.get(LOGIN).status_code == 200  # the page itself is still shown


@pytest.mark.django_db
def test_the_owner_elsewhere_and_a_colleague_behind_the_same_address_are_not_held_up(client, ana, django_user_model):
    django_user_model.objects.create_user("bia", password="bia-pass-123")
    for _ in range(20):  # someone guessing ana's password from the office's shared address
        attempt(client, "wrong", address="203.0.113.9")
    for name in ("root", "admin", "test", "guest", "user", "ops"):  # and spraying names from there
        attempt(client, "wrong", username=name, address="203.0.113.9")
    assert attempt(client, "right-pass-123", address="203.0.113.9").status_code == 429
    assert attempt(Client(), "bia-pass-123", username="bia", address="203.0.113.9").status_code == 302
    assert attempt(Client(), "right-pass-123", address="198.51.100.7").status_code == 302  # ana at home


@pytest.mark.django_db
def test_the_wait_doubles_with_each_failure_up_to_the_longest(ana):
    start = time.time() - 10_000  # remembered (a day), but every wait of these long over
    waits = [login_throttle.record_failure("ana", "10.0.0.1", now=start + n) for n in range(13)]
    assert waits == [0, 0, 0, 0, 15, 30, 60, 120, 240, 480, 900, 900, 900]
    assert login_throttle.seconds_locked("ana", "10.0.0.1") == 0  # long over
    wait = login_throttle.record_failure("ana", "10.0.0.1")
    assert wait == 900 and 899 <= login_throttle.seconds_locked("ana", "10.0.0.1") <= 900


@pytest.mark.django_db
def test_a_long_wait_says_minutes(client, ana, settings):
    settings.VIGIA_LOGIN_DELAY_SECONDS = 600
    for _ in range(5):
        attempt(client, "wrong")
    response = attempt(client, "right-pass-123")
    assert response.status_code == 429 and "10 minutes" in response.content.decode()


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
def test_the_admin_login_shares_the_count(client, ana):
    for _ in range(3):
        attempt(client, "wrong", path="/admin/login/")
    for _ in range(2):
        attempt(client, "wrong")
    response = attempt(client, "right-pass-123", path="/admin/login/?next=/admin/")
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert 'id="login-form"' in response.content.decode()  # the admin's own login page, with the reason
    assert not logged_in(client)


@pytest.mark.django_db
def test_the_wait_ends_and_forgotten_failures_no_longer_count(client, ana, settings):
    a_day_ago = time.time() - settings.VIGIA_LOGIN_MEMORY_SECONDS - 1
    for _ in range(8):
        login_throttle.record_failure("ana", "10.0.0.1", now=a_day_ago)  # waited out long ago
    for _ in range(4):
        attempt(client, "wrong")  # with the eight old ones, twelve; but only four remembered
    assert attempt(client, "right-pass-123").status_code == 302 and logged_in(client)


@pytest.mark.django_db
def test_failures_and_refusals_are_logged_without_the_password(client, ana, caplog):
    caplog.set_level("WARNING", logger="vigia.security")
    for _ in range(5):
        attempt(client, "wrong-Secret-9")
    attempt(client, "right-pass-123")
    failed = [r for r in caplog.records if r.getMessage() == "login failed"]
    assert [r.failures for r in failed] == [1, 2, 3, 4, 5] and failed[-1].wait_s == 15
    assert failed[0].username == "ana" and failed[0].address == "10.0.0.1"
    refused = [r for r in caplog.records if r.getMessage() == "login refused: waiting"]
    assert len(refused) == 1 and refused[0].username == "ana"
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "wrong-Secret-9" not in logged and "right-pass-123" not in logged


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
                attempt(Client(), "wrong", address="127.0.0.1")  # the pair gunicorn sees
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
