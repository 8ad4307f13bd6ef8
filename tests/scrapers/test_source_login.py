"""Sources behind a login, against a real loopback site that wants one (tests.loopback.login_site)."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels_app import tokens
from channels_app.models import Event
from scheduler import services
from scheduler.errors import PermanentError, TransientError
from scheduler.execution import execute_run
from scheduler.models import Run
from scrapers import ratelimit
from scrapers.models import Item, Source
from scrapers.sources import checks
from scrapers.sources.fetch import fetch
from scrapers.sources.services import SourceForm
from tests.loopback.login_site import PASSWORD, USER, LoginSite
from tests.loopback.organizer import CONFIG
from tests.loopback.organizer import page as page_of
from tests.loopback.server import LoopbackServer
from tests.support.commands import call, call_failing
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db

HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture
def login_site():
    with LoginSite() as site:
        site.tasks = [(1, "Tarefa 1", "Traga um guarda-chuva"), (2, "Tarefa 2", "Cante")]
        yield site


def check(source, **kwargs):
    source.refresh_from_db()
    return checks.check_source(source, **kwargs)


def logins(site):
    """The requests the site got for its login form (GET and POST)."""
    return [request for request in site.server.requests if request.path == "/login"]


def edit(source, **fields):
    """The source's form posted again with `fields` changed (everything else as stored)."""
    data = {
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "config": json.dumps(source.config),
        "method": source.method,
        "timeout_seconds": source.timeout_seconds,
        "interval_seconds": source.interval_seconds,
        "timezone": source.timezone,
        "enabled": "on",
        "login_url": source.login_url,
        **fields,
    }
    return SourceForm(data=data, instance=Source.objects.get(pk=source.pk))


def test_a_check_logs_in_first_then_keeps_the_session(login_site):
    source = login_site.make_source()

    outcome = check(source)

    assert [item.title for item in outcome.items] == ["Tarefa 1", "Tarefa 2"]
    assert login_site.login_attempts == 1
    source.refresh_from_db()
    assert set(source.session_cookies["cookies"]) == {"csrftoken", "sessionid"}
    assert source.session_started_at is not None
    posted = next(request for request in login_site.server.requests if request.method == "POST")
    assert "csrfmiddlewaretoken=" in posted.text  # the form's hidden input went back with the fields

    login_site.tasks.append((3, "Tarefa 3", "Nova"))
    assert len(check(source).new) == 1
    assert login_site.login_attempts == 1  # the stored session served the second check


def test_an_expired_session_means_one_login_again_and_one_retry(login_site):
    source = login_site.make_source()
    check(source)
    started = Source.objects.get(pk=source.pk).session_started_at
    login_site.expire_sessions()
    login_site.tasks.append((3, "Tarefa 3", "Nova"))

    outcome = check(source)

    assert outcome.status == "checked" and len(outcome.new) == 1
    assert login_site.login_attempts == 2
    assert Item.objects.filter(source=source).count() == 3  # each task stored once
    assert Source.objects.get(pk=source.pk).session_started_at > started


def test_a_wrong_password_is_a_permanent_login_rejected_never_tried_again(login_site):
    source = login_site.make_source(login_fields={"email": USER, "senha": "errada"})
    run = services.run_now(source.job)

    assert execute_run(run.id) == "failed"

    run.refresh_from_db()
    assert run.error.startswith("Login rejected: the site showed the login form again")
    source.refresh_from_db()
    assert source.last_error == run.error and source.consecutive_failures == 1
    assert "errada" not in run.error + source.last_error
    assert login_site.login_attempts == 1
    asked = len(logins(login_site))

    with pytest.raises(PermanentError, match="^Login rejected: "):
        check(source)
    assert login_site.login_attempts == 1 and len(logins(login_site)) == asked  # not even the form was read


def test_changing_the_login_settings_clears_the_rejection(login_site):
    source = login_site.make_source(login_fields={"email": USER, "senha": "errada"})
    with pytest.raises(PermanentError):
        check(source)

    form = edit(source, login_fields=f"email: {USER}\nsenha: {PASSWORD}")
    assert form.is_valid(), form.errors
    form.save()

    source.refresh_from_db()
    assert source.session_cookies == {} and source.session_started_at is None
    assert len(check(source).items) == 2
    assert login_site.login_attempts == 2


def test_an_edit_that_keeps_the_login_keeps_the_session(login_site):
    source = login_site.make_source()
    check(source)
    form = edit(source, interval_seconds=60)  # the login fields left empty: kept
    assert form.is_valid(), form.errors
    form.save()
    source.refresh_from_db()
    assert source.login_fields == {"email": USER, "senha": PASSWORD}
    assert "sessionid" in source.session_cookies["cookies"]


def test_a_401_from_the_page_is_an_expired_session_too(login_site):
    source = login_site.make_source()
    check(source)
    login_site.server.respond("/tarefas", status=401)  # once; then the site's own answers again
    login_site.server.respond("/tarefas", handler=login_site._answer)

    outcome = check(source)
    assert outcome.status == "unchanged" and outcome.known_items == 2  # the same page as before the 401
    assert login_site.login_attempts == 2


def test_the_success_cookie_and_text_decide(login_site):
    source = login_site.make_source(login_success_cookie="sessionid", login_success_text="Tarefa")
    assert len(check(source).items) == 2

    other = login_site.make_source(name="Other", login_success_cookie="auth_token")
    with pytest.raises(PermanentError, match="^Login rejected: the site did not set the cookie auth_token$"):
        check(other)

    third = login_site.make_source(name="Third", login_success_text="Bem-vinda, equipe")  # not on the tasks page
    with pytest.raises(PermanentError, match="^Login rejected: the page after logging in does not show the expected"):
        check(third)


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="Needs PostgreSQL: concurrent writers (SQLite serializes them).",
)
@pytest.mark.django_db(transaction=True)
def test_two_workers_finding_the_session_expired_log_in_once(login_site):
    source = login_site.make_source()
    check(source)
    login_site.expire_sessions()
    login_site.tasks.append((3, "Tarefa 3", "Nova"))
    barrier, outcomes, errors = threading.Barrier(2), [], []

    def worker():
        try:
            found = Source.objects.get(pk=source.pk)
            barrier.wait(10)
            outcomes.append(checks.check_source(found))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == [] and len(outcomes) == 2
    sent_back = [r for r in logins(login_site) if r.method == "GET" and r.query.get("next")]
    assert len(sent_back) == 2  # both workers found the session expired
    assert login_site.login_attempts == 2  # the first check's, and one for both workers
    assert Item.objects.filter(source=source).count() == 3
    assert sum(len(outcome.new) for outcome in outcomes) == 1


# --- the form, the page, the API ----------------------------------------------------------------------------
LOGIN = {"login_url": "http://127.0.0.1:9/login", "login_fields": "a: b"}


def form_errors(**fields):
    data = {"name": "S", "kind": "html", "url": "http://127.0.0.1:9/tarefas", "config": json.dumps(CONFIG)}
    data.update(interval_seconds=30, timeout_seconds=5, timezone="UTC", method="GET")
    form = SourceForm(data={**data, **fields})
    assert not form.is_valid()
    return form.errors


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"login_url": "http://127.0.0.1:9/login"}, "login_fields", "Give the fields the login form posts"),
        ({"login_fields": "email: a\nsenha: b"}, "login_url", "Give the login form's URL"),
        ({"login_success_text": "Sair"}, "login_url", "the success cookie and text apply to a login"),
        ({"login_url": "ftp://127.0.0.1/login", "login_fields": "a: b"}, "login_url", "Use an http:// or https://"),
        ({"login_url": "http://127.0.0.1:9/login", "login_fields": "senha"}, "login_fields", 'write "name: value"'),
        ({"login_url": "http://127.0.0.1:9/login", "login_fields": "senha: ********"}, "login_fields", "Type the"),
        # hostile values: each a field error, nothing stored (form_errors asserts the form is refused)
        ({**LOGIN, "login_success_cookie": "sessionid\r\nX-Evil: 1"}, "login_success_cookie", "A cookie's name"),
        ({**LOGIN, "login_success_cookie": "session id"}, "login_success_cookie", "A cookie's name"),
        ({**LOGIN, "login_success_cookie": "s" * 201}, "login_success_cookie", "at most 200"),
        ({**LOGIN, "login_success_text": "Sair\x00"}, "login_success_text", "Null characters are not allowed"),
        ({**LOGIN, "login_url": "http://127.0.0.1:9/lo\x00gin"}, "login_url", "Null characters are not allowed"),
        ({**LOGIN, "login_url": "http://127.0.0.1:9/" + "l" * 2000}, "login_url", "at most 2000"),
        ({**LOGIN, "fallback_urls": "http://127.0.0.1:9/a\x00b"}, "fallback_urls", "Line 1: The NUL character"),
        ({**LOGIN, "fallback_urls": "http://127.0.0.1:9/\ud800"}, "fallback_urls", "Line 1: Not valid Unicode"),
        ({**LOGIN, "fallback_urls": "http://127.0.0.1:9/a\r\nhttp://127.0.0.1:9/b\n" * 3}, "fallback_urls", "At most"),
    ],
)
def test_an_incomplete_login_is_a_field_error(fields, field, message):
    errors = form_errors(**fields)
    assert message in " ".join(errors[field]), errors


def test_the_source_page_and_the_api_never_show_the_secrets(login_site, staff_client):
    source = login_site.make_source()
    check(source)
    session = Source.objects.get(pk=source.pk).session_cookies["cookies"]["sessionid"]

    html = staff_client.get(reverse("scrapers:source", args=[source.pk])).content.decode()
    assert "Logged in since" in html
    assert PASSWORD not in html and session not in html and USER not in html
    assert 'name="login_fields"' in html and "<code>senha</code>" in html  # the names, marked "set"

    raw = tokens.create("bot", scopes=["sources:read"])[1]
    answer = Client().get(f"/api/v1/sources/{source.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["login_fields"] == {"email": "********", "senha": "********"}
    assert body["login"]["state"] == "logged_in" and body["login_url"] == login_site.url + "/login"
    assert PASSWORD not in answer.content.decode() and session not in answer.content.decode()


def test_the_page_says_when_the_login_was_rejected(login_site, staff_client):
    source = login_site.make_source(login_fields={"email": USER, "senha": "errada"})
    html = staff_client.get(reverse("scrapers:source", args=[source.pk])).content.decode()
    assert "Not logged in yet" in html
    with pytest.raises(PermanentError):
        check(source)
    html = staff_client.get(reverse("scrapers:source", args=[source.pk])).content.decode()
    assert "Login rejected: the site showed the login form again" in html
    assert "errada" not in html


def test_the_api_takes_the_login_and_keeps_masked_fields(login_site):
    raw = tokens.create("bot", scopes=["sources:read", "sources:write"])[1]
    client, auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    body = {
        "name": "Behind a login",
        "kind": "html",
        "url": login_site.url + "/tarefas",
        "config": CONFIG,
        "interval_seconds": 60,
        "login_url": login_site.url + "/login",
        "login_fields": {"email": USER, "senha": PASSWORD},
        "fallback_urls": [login_site.url + "/export.html"],
    }
    created = client.post("/api/v1/sources", json.dumps(body), content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["fallback_urls"] == [login_site.url + "/export.html"]

    patch = {"login_fields": {"email": "********", "senha": "********"}, "login_success_cookie": "sessionid"}
    changed = client.patch(f"/api/v1/sources/{pk}", json.dumps(patch), content_type="application/json", **auth)
    assert changed.status_code == 200, changed.content
    assert Source.objects.get(pk=pk).login_fields == {"email": USER, "senha": PASSWORD}

    bad = client.patch(f"/api/v1/sources/{pk}", json.dumps({"login_url": ""}), content_type="application/json", **auth)
    assert bad.status_code == 422 and "login_url" in bad.json()["errors"]


# --- on real processes ----------------------------------------------------------------------------------------
@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_workers_keep_finding_new_tasks_behind_a_login_whose_session_expires(processes):
    # Sessions last 1.5 s and a task comes every second for 6 s: several expire while tasks keep coming, however
    # late the first check lands (with 2.5 s, a slow CI run saw only one expiry before the last task).
    with LoginSite(session_seconds=1.5) as site:
        ratelimit.set_rate(ratelimit.host_key(site.url), 1000)  # the workers run with production settings
        site.tasks = [(1, "Tarefa 1", "a")]
        source = site.make_source(interval_seconds=1)
        processes.scheduler()
        processes.qcluster(VIGIA_WORKERS=2)
        wait_for(lambda: Item.objects.filter(source=source).exists(), 30, message="the first check")

        for number in range(2, 8):  # a new task about every second, across a few sessions
            site.tasks.insert(0, (number, f"Tarefa {number}", "nova"))
            time.sleep(1)
        wait_for(lambda: Item.objects.filter(source=source).count() == 7, 30, message="every task")

        assert site.login_attempts >= 3  # the session expired mid-way, more than once
        assert sorted(Item.objects.filter(source=source).values_list("key", flat=True)) == [str(n) for n in range(1, 8)]
        announced = Event.objects.filter(type="item.new", payload__source=source.pk)
        assert sorted(announced.values_list("payload__title", flat=True)) == [f"Tarefa {n}" for n in range(2, 8)]
        assert not Run.objects.filter(job=source.job, error__startswith="Login rejected").exists()


def test_the_admin_edits_the_login_and_shows_its_state_not_its_secrets(login_site, admin_client):
    source = login_site.make_source(login_fields={"email": USER, "senha": "errada"})
    with pytest.raises(PermanentError):
        check(source)
    url = reverse("admin:scrapers_source_change", args=[source.pk])
    html = admin_client.get(url).content.decode()
    assert "Login rejected: the site showed the login form again" in html
    assert "errada" not in html and USER not in html


def test_export_masks_the_login_fields_and_import_keeps_them(login_site, tmp_path):
    source = login_site.make_source(fallback_urls=[login_site.url + "/export.html"])
    out, _ = call("export_sources")
    [exported] = json.loads(out)
    assert exported["login_fields"] == {"email": "********", "senha": "********"}
    assert exported["fallback_urls"] == [login_site.url + "/export.html"] and PASSWORD not in out
    exported["login_success_text"] = "Tarefa"
    file = tmp_path / "sources.json"
    file.write_text(json.dumps([exported]))

    call("import_sources", str(file))

    source.refresh_from_db()
    assert source.login_fields == {"email": USER, "senha": PASSWORD} and source.login_success_text == "Tarefa"


def test_a_dry_run_logs_in_but_stores_no_session_and_no_rejection(login_site):
    source = login_site.make_source()
    check(source)
    stored = Source.objects.get(pk=source.pk)
    login_site.expire_sessions()  # the dry run must log in again: its session goes nowhere

    out, _ = call("check_source", str(source.pk), "--dry-run")

    assert "Tarefa 1" in out and "dry run: nothing saved" in out and login_site.login_attempts == 2
    after = Source.objects.get(pk=source.pk)
    assert after.session_started_at == stored.session_started_at
    assert after.session_cookies == stored.session_cookies

    Source.objects.filter(pk=source.pk).update(login_fields={"email": USER, "senha": "errada"})
    message, _, _ = call_failing("check_source", str(source.pk), "--dry-run")
    assert "Login rejected" in message
    after = Source.objects.get(pk=source.pk)  # the rejection stays the dry run's: the next check still tries
    assert after.session_started_at == stored.session_started_at and "rejected" not in after.session_cookies


# --- fetch's cookie jar -----------------------------------------------------------------------------------------
def test_fetch_carries_cookies_set_on_a_redirect_to_the_same_origin_only(site):
    with LoopbackServer() as elsewhere:
        site.respond("/a", status=302, headers={"Location": "/b", "Set-Cookie": "old=; Max-Age=0"})
        site.respond("/b", status=302, headers={"Location": elsewhere.url + "/c", "Set-Cookie": "sid=1; Path=/"})
        elsewhere.respond("/c", body="ok")

        result = fetch(site.url + "/a", cookies={"old": "x", "keep": "y"})

        assert result.cookies == {"old": None, "sid": "1"}
        assert site.requests[0].header("Cookie") == "old=x; keep=y"
        assert site.requests[1].header("Cookie") == "keep=y"  # the deleted one is no longer sent
        assert elsewhere.requests[0].header("Cookie") is None  # nor anything to another origin

        plain = fetch(site.url + "/a")  # without a jar, as before: cookies only reported
        assert plain.cookies == {"old": None, "sid": "1"} and site.requests[2].header("Cookie") is None


def test_a_login_left_half_done_by_a_killed_worker_is_taken_over(login_site):
    source = login_site.make_source()
    long_ago = timezone.now() - timedelta(hours=1)
    Source.objects.filter(pk=source.pk).update(session_cookies={"pending": "x"}, session_started_at=long_ago)
    assert len(check(source).items) == 2
    assert login_site.login_attempts == 1


def test_a_check_waiting_for_another_workers_login_gives_up_at_its_deadline(login_site):
    source = login_site.make_source()
    Source.objects.filter(pk=source.pk).update(session_cookies={"pending": "x"}, session_started_at=timezone.now())
    with pytest.raises(TransientError, match="^Another check of this source is logging in"):
        check(source, deadline=time.monotonic() + 0.5)
    assert login_site.login_attempts == 0


# --- the editor's preview -------------------------------------------------------------------------------------
def test_the_editors_preview_logs_in_with_the_stored_fields_and_keeps_no_session(login_site, staff_client):
    source = login_site.make_source()
    data = {
        "name": source.name,
        "kind": "html",
        "url": source.url,
        "config": json.dumps(CONFIG),
        "method": "GET",
        "headers": "",
        "timeout_seconds": "5",
        "interval_seconds": "30",
        "timezone": "UTC",
        "source_id": str(source.pk),
        "login_url": source.login_url,
        "login_fields": "",  # write-only: empty keeps the stored user and password
    }
    answer = staff_client.post(reverse("scrapers:source_preview"), data, HTTP_HX_REQUEST="true")

    text = answer.content.decode()
    assert answer.status_code == 200 and "Tarefa 1" in text and "2 items extracted" in text
    assert login_site.login_attempts == 1
    source.refresh_from_db()
    assert source.session_cookies == {} and source.session_started_at is None  # a preview stores nothing
    assert PASSWORD not in text


def test_the_preview_of_a_new_source_tries_its_fallback_url(staff_client):
    with LoopbackServer() as primary, LoopbackServer() as mirror:
        primary.respond("/tarefas", status=503)
        mirror.respond("/export.html", body=page_of((7, "Tarefa 7", "do espelho")), headers=HTML)
        data = {
            "kind": "html",
            "url": primary.url + "/tarefas",
            "config": json.dumps(CONFIG),
            "method": "GET",
            "timeout_seconds": "5",
            "fallback_urls": mirror.url + "/export.html",
        }
        answer = staff_client.post(reverse("scrapers:source_preview"), data, HTTP_HX_REQUEST="true")
    assert "Tarefa 7" in answer.content.decode()
    assert not Source.objects.exists()
