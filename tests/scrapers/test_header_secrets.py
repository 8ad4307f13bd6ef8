"""A source's request headers (a Cookie or Authorization for an organizer's logged-in page) are secrets: encrypted
in the column (scheduler.shared.fields), write-only on the page, the admin, the API and the exports, still sent by
the fetch, re-encrypted by rotate_secrets, migrated in place, and masked in log lines."""

import io
import json
import logging
from contextlib import contextmanager
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client, override_settings
from django.urls import reverse

from channels_app import tokens
from scheduler.shared import logs
from scrapers.models import Source
from scrapers.sources import checks
from scrapers.sources.services import SourceForm
from tests.loopback import organizer
from tests.loopback.organizer import CONFIG, page

COOKIE = "session=organizer-cookie-h16-do-not-leak"
BEARER = "Bearer organizer-token-h16-never-shown"
HEADERS = {"Cookie": COOKIE, "Authorization": BEARER}
SECRETS = ("organizer-cookie-h16-do-not-leak", "organizer-token-h16-never-shown")
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def raw_headers(pk):
    """The column as stored, read with a cursor (no model field in the way)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT headers FROM scrapers_source WHERE id = %s", [pk])
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else json.dumps(value)


def leaks(text):
    return [secret for secret in SECRETS if secret in text]


def make(site, headers=HEADERS):
    return organizer.make_source(site.url + "/tarefas", headers=headers)


def edit(source, headers):
    """The source's form posted again with `headers` typed in the box (everything else as stored)."""
    data = {
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "config": json.dumps(source.config),
        "method": source.method,
        "headers": headers,
        "timeout_seconds": source.timeout_seconds,
        "interval_seconds": source.interval_seconds,
        "cron": source.cron,
        "timezone": source.timezone,
        "enabled": "on",
    }
    form = SourceForm(data=data, instance=Source.objects.get(pk=source.pk))
    assert form.is_valid(), form.errors
    form.save()
    return Source.objects.get(pk=source.pk)


@contextmanager
def captured_logs():
    """Every line logged meanwhile (httpx and httpcore at DEBUG too), as the configured handlers write it:
    through RedactSecretsFilter."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.RedactSecretsFilter())
    handler.setFormatter(logs.TextFormatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore", "scrapers", "scheduler")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


# --- at rest ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_column_holds_ciphertext_only(site):
    source = make(site)
    stored = raw_headers(source.pk)
    assert not leaks(stored) and "Cookie" not in stored and stored.strip('"').startswith("gAAAAA")
    assert Source.objects.get(pk=source.pk).headers == HEADERS
    assert "organizer" not in repr(Source.objects.get(pk=source.pk).headers)  # a traceback's locals: masked


@pytest.mark.django_db
def test_the_fetch_still_sends_the_headers(site):
    site.respond("/tarefas", body=page((1, "A", "a")))
    source = make(site)
    checks.check_source(Source.objects.get(pk=source.pk))
    sent = site.requests[0]
    assert sent.headers.get("cookie") == COOKIE and sent.headers.get("authorization") == BEARER


@pytest.mark.django_db
def test_log_lines_of_a_fetch_never_hold_the_values(site):
    site.respond("/tarefas", body=page((1, "A", "a")))
    site.respond("/broken", status=500, body=b"down")
    source = make(site)
    with captured_logs() as out:
        fresh = Source.objects.get(pk=source.pk)
        checks.check_source(fresh)
        log = logging.getLogger("scrapers.test")
        log.info("source headers %s and %r", dict(fresh.headers), fresh.headers)  # even copied out of the dict
        try:
            raise RuntimeError(f"fetch failed with {fresh.headers['Cookie']}")
        except RuntimeError:
            log.exception("check failed")
    text = out.getvalue()
    assert text and "check failed" in text
    assert not leaks(text), text


# --- write-only -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_source_page_shows_the_names_never_the_values(site, staff_client):
    source = make(site)
    body = staff_client.get(reverse("scrapers:source", args=[source.pk])).content.decode()
    assert "<code>Cookie</code>" in body and "<code>Authorization</code>" in body
    assert not leaks(body)


@pytest.mark.django_db
def test_the_admin_change_page_shows_the_names_never_the_values(site, admin_client):
    source = make(site)
    body = admin_client.get(reverse("admin:scrapers_source_change", args=[source.pk])).content.decode()
    assert "<code>Cookie</code>" in body
    assert not leaks(body)


@pytest.mark.django_db
def test_the_api_answers_masked_values_and_a_masked_value_keeps_the_stored_one(site, settings):
    settings.VIGIA_API_RATE_PER_MINUTE = 0
    source = make(site)
    raw = tokens.create("crm", scopes=["sources:read", "sources:write"])[1]
    client, auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    answer = client.get(f"/api/v1/sources/{source.pk}", **auth)
    assert answer.status_code == 200 and answer.json()["headers"] == {"Cookie": "********", "Authorization": "********"}
    listing = client.get("/api/v1/sources", **auth).content.decode()
    assert not leaks(answer.content.decode()) and not leaks(listing)

    body = json.dumps({"headers": {"Cookie": "********", "X-Team": "plantão-team"}})
    patched = client.patch(f"/api/v1/sources/{source.pk}", body, content_type="application/json", **auth)
    assert patched.status_code == 200, patched.content
    assert not leaks(patched.content.decode())
    assert Source.objects.get(pk=source.pk).headers == {"Cookie": COOKIE, "X-Team": "plantão-team"}


@pytest.mark.django_db
def test_exports_write_the_names_and_an_import_of_them_keeps_the_values(site, tmp_path):
    source = make(site)
    out = StringIO()
    call_command("export_sources", stdout=out)
    assert not leaks(out.getvalue())
    exported = json.loads(out.getvalue())
    assert exported[0]["headers"] == {"Authorization": "********", "Cookie": "********"}

    path = tmp_path / "sources.json"
    path.write_text(out.getvalue(), encoding="utf-8")
    call_command("import_sources", str(path), stdout=StringIO())
    assert Source.objects.get(pk=source.pk).headers == HEADERS


@pytest.mark.django_db
def test_empty_keeps_lines_replace_a_mask_keeps_one_and_a_dash_clears(site):
    source = make(site)
    assert edit(source, "").headers == HEADERS  # left empty: kept
    assert edit(source, "  \n").headers == HEADERS
    assert edit(source, "X-Api-Key: k-123456").headers == {"X-Api-Key": "k-123456"}  # replaced wholly
    assert edit(source, "X-Api-Key: ********\nCookie: c=2").headers == {"X-Api-Key": "k-123456", "Cookie": "c=2"}
    assert edit(source, "-").headers == {}  # removed
    assert raw_headers(source.pk) != "{}" and Source.objects.get(pk=source.pk).headers == {}


@pytest.mark.django_db
def test_a_mask_with_nothing_stored_is_a_field_error(site):
    source = make(site, headers={})
    data = {**SourceForm(instance=source).initial, "headers": "Cookie: ********", "config": json.dumps(CONFIG)}
    data = {key: value for key, value in data.items() if value is not None and key not in ("job", "id")}
    form = SourceForm(data=data, instance=source)
    assert not form.is_valid() and "Cookie" in str(form.errors["headers"])


@pytest.mark.django_db
def test_the_page_posts_through_the_same_rules(site, staff_client):
    source = make(site)
    data = {
        "name": source.name,
        "kind": source.kind,
        "url": source.url,
        "config": json.dumps(source.config),
        "method": "GET",
        "headers": "",
        "timeout_seconds": "5",
        "interval_seconds": "30",
        "cron": "",
        "timezone": "UTC",
        "enabled": "on",
    }
    response = staff_client.post(reverse("scrapers:source", args=[source.pk]), data)
    assert response.status_code in (200, 302) and not leaks(response.content.decode())
    assert Source.objects.get(pk=source.pk).headers == HEADERS
    staff_client.post(reverse("scrapers:source", args=[source.pk]), {**data, "headers": "-"})
    assert Source.objects.get(pk=source.pk).headers == {}


@pytest.mark.django_db
def test_headers_no_key_opens_are_a_field_error_until_typed_again(site, staff_client):
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A]):
        source = make(site)
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_B]):
        page = staff_client.get(reverse("scrapers:source", args=[source.pk]))
        assert page.status_code == 200 and not leaks(page.content.decode())
        form = SourceForm(data={"headers": ""}, instance=Source.objects.get(pk=source.pk))
        assert not form.is_valid() and "cannot be decrypted" in str(form.errors["headers"])
        assert edit(source, "Cookie: new-cookie-1").headers == {"Cookie": "new-cookie-1"}


# --- keys and the migration -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotate_secrets_re_encrypts_the_headers(site):
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A]):
        source = make(site)
        before = raw_headers(source.pk)
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        call_command("rotate_secrets", stdout=StringIO())
    assert raw_headers(source.pk) != before
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_B]):  # the old key can go now
        assert Source.objects.get(pk=source.pk).headers == HEADERS


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_plaintext_rows_and_reverses():
    before, after = [("scrapers", "0016_field_names_translated")], [("scrapers", "0017_encrypt_source_headers")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old_apps = executor.loader.project_state(before).apps
        legacy = old_apps.get_model("scrapers", "Source").objects.create(
            name="legacy", kind="html", url="https://example.org/", config=CONFIG, headers=HEADERS
        )
        assert leaks(raw_headers(legacy.pk))  # plaintext before

        executor.loader.build_graph()
        executor.migrate(after)
        assert not leaks(raw_headers(legacy.pk)) and raw_headers(legacy.pk).strip('"').startswith("gAAAAA")
        assert Source.objects.only("headers").get(pk=legacy.pk).headers == HEADERS

        executor.loader.build_graph()
        executor.migrate(before)  # reversible: plaintext again
        assert json.loads(raw_headers(legacy.pk)) == HEADERS
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
