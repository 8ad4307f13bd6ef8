"""An http_request job's header values are secrets: Job.params keep the names (each "********"), the values live
encrypted in Job.secrets (job_kinds.seal), merged back only for the run. Write-only on the job page, the admin, the
API and the exports; still sent; kept out of results and log lines; re-encrypted by rotate_secrets; migrated."""

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
from scheduler import services
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scheduler.shared import logs
from tests.loopback.server import LoopbackServer
from tests.support.factories import job_form_data, make_job

TOKEN = "Bearer job-token-h16-do-not-leak"
TEAM = "team-secret-h16-never-shown"
HEADERS = {"Authorization": TOKEN, "X-Team": TEAM}
SECRETS = ("job-token-h16-do-not-leak", "team-secret-h16-never-shown")
MASKED = {"Authorization": "********", "X-Team": "********"}
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


@pytest.fixture
def server():
    with LoopbackServer() as server:
        yield server


def leaks(text):
    return [secret for secret in SECRETS if secret in text]


def raw_row(pk):
    """params and secrets as stored, read with a cursor (no model field in the way)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT params, secrets FROM scheduler_job WHERE id = %s", [pk])
        params, secrets = cursor.fetchone()
    return (params if isinstance(params, str) else json.dumps(params)), secrets


def hook(server=None, headers=HEADERS, **fields):
    url = (server.url if server else "https://hooks.example.org") + "/hook"
    return make_job(kind="http_request", params={"url": url, "method": "POST", "headers": headers}, **fields)


def page_post(job, headers, **overrides):
    """The job page's editor posted again with `headers` typed in the box."""
    data = job_form_data(name=job.name, kind="http_request", params="", params_fields="1", **overrides)
    data.update({"params-url": job.params["url"], "params-method": "POST", "params-headers": headers})
    data.update({"schedule_type": "interval", "interval_seconds": "60", "cron": ""})
    return data


@contextmanager
def captured_logs():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.RedactSecretsFilter())
    handler.setFormatter(logs.TextFormatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore", "scheduler")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


# --- at rest and at run time ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_params_keep_the_names_and_the_values_are_ciphertext():
    job = hook()
    params, secrets = raw_row(job.pk)
    assert not leaks(params) and not leaks(secrets) and secrets.strip('"').startswith("gAAAAA")
    assert json.loads(params)["headers"] == MASKED
    stored = Job.objects.get(pk=job.pk)
    assert stored.params["headers"] == MASKED and stored.secrets == {"headers": HEADERS}
    assert not leaks(repr(stored.secrets))  # a traceback's locals: masked


@pytest.mark.django_db
def test_the_run_sends_the_headers_and_records_none_of_them(server):
    server.respond("/hook", status=200, body={"ok": True})
    server.respond("/down", status=503, body=b"down")
    job = hook(server)
    with captured_logs() as out:
        run = services.run_now(job)
        assert execute_run(run.id) == "succeeded"
        failing = hook(server, name="failing")
        failing.params = {**failing.params, "url": server.url + "/down"}
        failing.save()
        failed = services.run_now(failing)
        assert execute_run(failed.id) == "failed"
        logging.getLogger("scheduler.test").warning("sent %s", Job.objects.get(pk=job.pk).secrets["headers"]["X-Team"])
    sent = server.requests[0]
    assert sent.headers.get("authorization") == TOKEN and sent.headers.get("x-team") == TEAM
    assert Job.objects.get(pk=failing.pk).secrets == {"headers": HEADERS}  # a params edit kept the values
    for row in Run.objects.all():
        assert not leaks(json.dumps(row.result)) and not leaks(row.error) and not leaks(row.traceback)
    text = out.getvalue()
    assert "sent" in text and not leaks(text), text


@pytest.mark.django_db
def test_a_server_echoing_the_headers_leaves_them_out_of_the_run_result(server):
    server.respond("/hook", handler=lambda request: {"you sent": request.headers})
    job = hook(server)
    run = services.run_now(job)
    assert execute_run(run.id) == "succeeded"
    run.refresh_from_db()
    assert "you sent" in run.result["response"] and "x-team" in run.result["response"]
    assert not leaks(json.dumps(run.result)), run.result


# --- write-only -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_job_page_and_the_admin_show_the_names_never_the_values(staff_client, admin_client):
    job = hook()
    for client, url in (
        (staff_client, reverse("scheduler:job", args=[job.pk])),
        (admin_client, reverse("admin:scheduler_job_change", args=[job.pk])),
    ):
        body = client.get(url).content.decode()
        assert "<code>Authorization</code>" in body and "<code>X-Team</code>" in body, url
        assert not leaks(body), url


@pytest.mark.django_db
def test_the_api_and_the_export_answer_masked_values():
    job = hook()
    raw = tokens.create("crm", scopes=["jobs:read"])[1]
    client, auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    one = client.get(f"/api/v1/jobs/{job.pk}", **auth)
    assert one.status_code == 200 and one.json()["params"]["headers"] == MASKED
    assert not leaks(one.content.decode()) and not leaks(client.get("/api/v1/jobs", **auth).content.decode())
    out = StringIO()
    call_command("export_jobs", stdout=out)
    assert not leaks(out.getvalue()) and json.loads(out.getvalue())[0]["params"]["headers"] == MASKED


@pytest.mark.django_db
def test_empty_keeps_lines_replace_a_mask_keeps_one_and_a_dash_clears(staff_client):
    job = hook()
    url = reverse("scheduler:job", args=[job.pk])

    def post(headers):
        response = staff_client.post(url, page_post(job, headers))
        assert response.status_code in (200, 302)
        assert not leaks(response.content.decode())
        return Job.objects.get(pk=job.pk)

    kept = post("")
    assert kept.secrets == {"headers": HEADERS} and kept.params["headers"] == MASKED
    assert post("X-Api-Key: k-123456").secrets == {"headers": {"X-Api-Key": "k-123456"}}
    both = post("X-Api-Key: ********\nX-Other: other-1")
    assert both.secrets == {"headers": {"X-Api-Key": "k-123456", "X-Other": "other-1"}}
    cleared = post("-")
    assert "headers" not in cleared.params and cleared.secrets == {}


@pytest.mark.django_db
def test_the_api_replaces_params_wholly_and_an_empty_object_clears(settings):
    settings.VIGIA_API_RATE_PER_MINUTE = 0
    raw = tokens.create("crm", scopes=["jobs:read", "jobs:write"])[1]
    client, auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    job = hook()

    def patch(params):
        body = json.dumps({"params": params})
        response = client.patch(f"/api/v1/jobs/{job.pk}", body, content_type="application/json", **auth)
        assert response.status_code == 200, response.content
        return Job.objects.get(pk=job.pk)

    masked = patch({"url": "https://hooks.example.org/hook", "headers": {"Authorization": "********"}})
    assert masked.secrets == {"headers": {"Authorization": TOKEN}}
    assert patch({"url": "https://hooks.example.org/hook", "headers": {}}).secrets == {}


# --- keys and the migration -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotate_secrets_re_encrypts_the_job_secrets():
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A]):
        job = hook()
        before = raw_row(job.pk)[1]
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        call_command("rotate_secrets", stdout=StringIO())
    assert raw_row(job.pk)[1] != before
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_B]):  # the old key can go now
        assert Job.objects.get(pk=job.pk).secrets == {"headers": HEADERS}


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_plain_header_values_into_the_secrets_and_reverses():
    before, after = [("scheduler", "0018_roles")], [("scheduler", "0019_job_secrets")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old_apps = executor.loader.project_state(before).apps
        legacy = old_apps.get_model("scheduler", "Job").objects.create(
            name="legacy hook",
            kind="http_request",
            schedule_type="interval",
            interval_seconds=60,
            params={"url": "https://hooks.example.org/hook", "headers": HEADERS},
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT params FROM scheduler_job WHERE id = %s", [legacy.pk])
            assert leaks(str(cursor.fetchone()[0]))  # plaintext before

        executor.loader.build_graph()
        executor.migrate(after)
        params, secrets = raw_row(legacy.pk)
        assert not leaks(params) and not leaks(secrets)
        job = Job.objects.get(pk=legacy.pk)
        assert job.params["headers"] == MASKED and job.secrets == {"headers": HEADERS}

        executor.loader.build_graph()
        executor.migrate(before)  # reversible: the values back in the params
        with connection.cursor() as cursor:
            cursor.execute("SELECT params FROM scheduler_job WHERE id = %s", [legacy.pk])
            value = cursor.fetchone()[0]
        assert (json.loads(value) if isinstance(value, str) else value)["headers"] == HEADERS
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
