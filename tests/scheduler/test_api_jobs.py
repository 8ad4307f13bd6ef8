"""The jobs API (/api/v1/jobs): a job declared once per (service, key) and caller, its next occurrences in its
own zone, upserts that change nothing when repeated, lists filtered and paged, edits through the dashboard's
form (its messages, field by field), pause and resume, delete, owned jobs refused as on the dashboard, scopes,
the per-kind OpenAPI bodies, and 20 concurrent declarations of one pair on PostgreSQL."""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from channels_app import tokens
from scheduler import services
from scheduler.api import MASK
from scheduler.forms import JobForm
from scheduler.models import Job, Run
from scrapers.models import Source
from scrapers.sources.services import sync_job

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs"
ZONE = "America/Sao_Paulo"


@pytest.fixture
def raw():
    return tokens.create("smartmei", scopes=["jobs:read", "jobs:write"])[1]


@pytest.fixture
def other():
    return tokens.create("billing", scopes=["jobs:write"])[1]


@pytest.fixture
def reader():
    return tokens.create("viewer", scopes=["jobs:read"])[1]


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def send(client, method, url, raw, data=None):
    payload = json.dumps(data) if data is not None else None
    return getattr(client, method)(url, payload, content_type="application/json", **auth(raw))


def event(**changes):
    """SmartMEi's declaration: a yearly webhook call at 01:00 on 15 August in São Paulo, twelve times."""
    data = {
        "service": "xulamps",
        "key": "event-42",
        "name": "Anniversary reminder",
        "kind": "http_request",
        "params": {
            "url": "https://hooks.example.org/do/something/42",
            "method": "POST",
            "headers": {"Authorization": "Bearer s3cret"},
            "query": {"source": "vigia"},
            "json": {"event": 42},
        },
        "schedule_type": "cron",
        "cron": "0 1 15 8 *",
        "timezone": ZONE,
        "max_occurrences": 12,
        "callback_url": "https://smartmei.example.org/callback",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not ...}


def noop(name, **changes):
    return {"name": name, "kind": "noop", "schedule_type": "interval", "interval_seconds": 60, **changes}


def expected_first_occurrence():
    now = timezone.now()
    year = now.year + (now >= datetime(now.year, 8, 15, 4, tzinfo=UTC))
    return year


# --- Declaring ---------------------------------------------------------------------------------------------
def test_a_declared_job_answers_its_next_occurrences_in_its_own_zone(client, raw):
    response = send(client, "post", JOBS, raw, event())
    assert response.status_code == 201, response.content
    job = response.json()
    year = expected_first_occurrence()
    assert job["next_occurrences"][0] == {
        "utc": f"{year}-08-15T04:00:00+00:00",
        "local": f"{year}-08-15T01:00:00-03:00",
    }
    assert [o["local"][:4] for o in job["next_occurrences"]] == [str(year + n) for n in range(5)]
    assert job["service"] == "xulamps" and job["key"] == "event-42" and job["name"] == "Anniversary reminder"
    assert job["params"]["headers"] == {"Authorization": MASK}  # tokens are never answered
    assert job["params"]["query"] == {"source": "vigia"} and job["params"]["json"] == {"event": 42}
    assert job["callback_url"] == "https://smartmei.example.org/callback" and job["last_run"] is None
    stored = Job.objects.get(pk=job["id"])
    assert stored.params["headers"] == {"Authorization": MASK}  # the value is in Job.secrets
    assert stored.secrets == {"headers": {"Authorization": "Bearer s3cret"}}
    assert stored.api_caller.startswith("token:") and stored.next_run_at.isoformat() == job["next_run_at"]


def test_next_occurrences_respect_max_occurrences_and_the_end(client, raw):
    twice = send(client, "post", JOBS, raw, event(max_occurrences=2)).json()
    assert len(twice["next_occurrences"]) == 2
    Job.objects.filter(pk=twice["id"]).update(occurrences=1)
    assert len(send(client, "get", f"{JOBS}/{twice['id']}", raw).json()["next_occurrences"]) == 1

    year = expected_first_occurrence()
    ending = event(key="ending", name="ending", max_occurrences=None, end_at=f"{year + 2}-12-31T00:00:00Z")
    job = send(client, "post", JOBS, raw, ending).json()
    assert [o["utc"][:4] for o in job["next_occurrences"]] == [str(year), str(year + 1), str(year + 2)]


def test_declaring_a_pair_again_answers_the_first_job_unchanged(client, raw):
    first = send(client, "post", JOBS, raw, event()).json()
    again = send(client, "post", JOBS, raw, event(name="Another name", cron="0 2 * * *"))
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["name"] == "Anniversary reminder"
    assert again.json()["cron"] == "0 1 15 8 *"
    assert Job.objects.filter(external_service="xulamps").count() == 1


def test_a_pair_held_by_another_caller_or_the_dashboard_is_409(client, raw, other):
    send(client, "post", JOBS, raw, event())
    refused = send(client, "post", JOBS, other, event())
    assert refused.status_code == 409 and "another caller" in refused.json()["detail"]
    services.save_job(Job(name="made by hand", kind="noop", schedule_type="manual", external_service="crm",
                          external_key="k1"))  # fmt: skip
    assert send(client, "post", JOBS, raw, event(service="crm", key="k1", name="x")).status_code == 409
    assert send(client, "put", f"{JOBS}/by-key/crm/k1", raw, event(service=..., key=...)).status_code == 409


def test_without_a_name_the_job_is_named_after_its_pair_and_names_are_unique(client, raw):
    job = send(client, "post", JOBS, raw, event(name=...)).json()
    assert job["name"] == "xulamps/event-42"
    clash = send(client, "post", JOBS, raw, event(key="event-43", name="xulamps/event-42"))
    assert clash.status_code == 422
    assert clash.json()["errors"] == {"name": ["Job with this Name already exists."]}
    assert send(client, "post", JOBS, raw, noop("")).json()["errors"] == {"name": ["This field is required."]}


def form_errors(data):
    with timezone.override(ZONE):
        form = JobForm(data={**JobForm(instance=Job()).initial, **data})
        form.is_valid()
    return form.errors


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": ""}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"max_attempts": 10**6}, "max_attempts"),
        ({"backoff_base_seconds": 60, "backoff_cap_seconds": 10}, "backoff_cap_seconds"),
        ({"schedule_type": "interval", "interval_seconds": None}, "interval_seconds"),
        ({"schedule_type": "once", "run_at": None}, "run_at"),
        ({"start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}, "end_at"),
        ({"kind": "teleport"}, "kind"),
    ],
)
def test_field_errors_are_the_forms(client, raw, changes, field):
    response = send(client, "post", JOBS, raw, event(**changes))
    assert response.status_code == 422, response.content
    form_data = {**event(**changes), "external_service": "xulamps", "external_key": "event-42"}
    expected = form_errors({k: v for k, v in form_data.items() if v is not None and k not in ("service", "key")})
    assert response.json()["errors"][field] == expected[field]
    assert not Job.objects.exists()


def test_other_refusals_are_by_field(client, raw):
    def errors(**changes):
        response = send(client, "post", JOBS, raw, event(**changes))
        assert response.status_code == 422, response.content
        return response.json()["errors"]

    assert errors(params={"method": "POST"}) == {"params.url": ["Required."]}
    assert errors(params={"url": "ftp://example.org/"})["params.url"] == [
        "Enter an http:// or https:// URL with a host."
    ]
    assert "not a public address" in errors(params={"url": "http://169.254.169.254/latest"})["params.url"][0]
    assert errors(params={"url": "https://a.example/", "json": {"a": 1}, "graphql_query": "{ a }"}) == {
        "params.graphql_query": ["Send either a JSON body or a GraphQL query, not both."]
    }
    assert errors(params={"url": "https://a.example/", "body": "raw"}) == {"params.body": ["Unknown field."]}
    assert errors(colour="blue") == {"colour": ["Unknown field."]}
    assert errors(timeout_seconds="ten") == {"timeout_seconds": ["Expected integer."]}
    assert errors(enabled="yes") == {"enabled": ["Expected boolean."]}
    assert errors(schedule_type="sometimes")["schedule_type"][0].startswith("Choose one of: cron")
    assert errors(misfire_grace_seconds=10**30)["misfire_grace_seconds"]
    assert errors(max_occurrences=2**70)["max_occurrences"]
    assert "UTC offset" in errors(start_at="2030-01-01T10:00:00")["start_at"][0]
    assert errors(start_at="tomorrow")["start_at"] == ["Enter a valid date/time."]
    assert errors(callback_url="ftp://example.org/x") == {"callback_url": ["Use an http:// or https:// address."]}
    assert errors(callback_url="example.org/x") == {"callback_url": ["Use an http:// or https:// address."]}
    assert "not a public address" in errors(callback_url="http://169.254.169.254/cb")["callback_url"][0]
    assert errors(service=None) == {"service": ["Give both service and key, or neither."]}
    assert errors(kind="check_source", params={"source_id": 1})["kind"][0].startswith("Each source has its own")
    assert errors(kind=None) == {"kind": ["Expected string."]}
    missing = send(client, "post", JOBS, raw, {"name": "x"})
    assert missing.json()["errors"] == {"kind": ["Required."]}
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "payload,status",
    [
        (b"{", 400),
        (b"[1, 2]", 400),
        (b'{"name": "a\\u0000b", "kind": "noop"}', 400),
        (b'{"name": 1e999, "kind": "noop"}', 422),
    ],
)
def test_bodies_that_are_not_json_objects_are_refused(client, raw, payload, status):
    response = client.post(JOBS, payload, content_type="application/json", **auth(raw))
    assert response.status_code == status and response.json()["errors"]
    assert not Job.objects.exists()


def test_a_read_only_token_is_refused_every_write_naming_the_scope(client, raw, reader):
    job = send(client, "post", JOBS, raw, noop("mine")).json()
    run = services.run_now(Job.objects.get(pk=job["id"]))
    writes = [
        ("post", JOBS, noop("theirs")),
        ("put", f"{JOBS}/by-key/crm/k", noop("theirs")),
        ("patch", f"{JOBS}/{job['id']}", {"enabled": False}),
        ("delete", f"{JOBS}/{job['id']}", None),
        ("post", f"{JOBS}/{job['id']}/run", None),
        ("post", f"/api/v1/runs/{run.pk}/cancel", None),
    ]
    for method, url, data in writes:
        response = send(client, method, url, reader, data)
        assert response.status_code == 403, (method, url)
        assert "jobs:write" in response.json()["detail"]
    assert Job.objects.count() == 1 and Run.objects.get().status == Run.Status.QUEUED
    assert send(client, "get", f"{JOBS}/{job['id']}", reader).status_code == 200
    nothing = tokens.create("messages only", scopes=["messages:write"])[1]
    refused = send(client, "get", JOBS, nothing)
    assert refused.status_code == 403 and "jobs:read" in refused.json()["detail"]


# --- Upsert ------------------------------------------------------------------------------------------------
def test_put_creates_then_updates_in_place_and_a_repeat_changes_nothing(client, raw, other):
    url = f"{JOBS}/by-key/xulamps/event-42"
    declared = event(service=..., key=...)
    created = send(client, "put", url, raw, declared)
    assert created.status_code == 201, created.content
    job = created.json()
    assert job["service"] == "xulamps" and job["key"] == "event-42"
    Job.objects.filter(pk=job["id"]).update(occurrences=3)  # three fired meanwhile
    stored = Job.objects.get(pk=job["id"])

    again = send(client, "put", url, raw, declared)
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    same = Job.objects.get(pk=job["id"])
    assert (same.occurrences, same.next_run_at, same.updated_at) == (3, stored.next_run_at, stored.updated_at)
    assert same.secrets == {"headers": {"Authorization": "Bearer s3cret"}}

    # what the job answers can be sent back: masked headers keep their value
    masked = {**declared, "params": {**declared["params"], "headers": {"Authorization": MASK}}}
    assert send(client, "put", url, raw, masked).status_code == 200
    assert Job.objects.get(pk=job["id"]).updated_at == stored.updated_at

    changed = send(client, "put", url, raw, event(service=..., key=..., name=..., cron="0 1 16 8 *"))
    assert changed.status_code == 200
    assert changed.json()["next_occurrences"][0]["local"].endswith("-08-16T01:00:00-03:00")
    assert changed.json()["name"] == "xulamps/event-42"  # left out: back to the default
    assert changed.json()["max_occurrences"] == 12 and Job.objects.count() == 1
    assert send(client, "put", url, other, declared).status_code == 409


def test_a_repeated_declaration_is_answered_without_writing_until_the_job_changes_elsewhere(
    client, raw, django_assert_max_num_queries
):
    url = f"{JOBS}/by-key/crm/daily"
    declared = noop("daily", timeout_seconds=30)
    first = send(client, "put", url, raw, declared).json()
    job = Job.objects.get(pk=first["id"])

    with django_assert_max_num_queries(8):  # token, rate, the job, its last run: no form, no write
        again = send(client, "put", url, raw, declared)
    assert again.status_code == 200 and again.json() == first
    assert Job.objects.get(pk=job.pk).updated_at == job.updated_at

    Job.objects.filter(pk=job.pk).update(timeout_seconds=99)  # as an edit on the dashboard…
    job = Job.objects.get(pk=job.pk)
    job.save()  # …which moves updated_at
    restored = send(client, "put", url, raw, declared)
    assert restored.status_code == 200 and restored.json()["timeout_seconds"] == 30

    assert send(client, "patch", f"{JOBS}/{job.pk}", raw, {"timeout_seconds": 45}).status_code == 200
    assert send(client, "put", url, raw, declared).json()["timeout_seconds"] == 30  # a PATCH is undone too
    assert send(client, "put", url, raw, {**declared, "timeout_seconds": 60}).json()["timeout_seconds"] == 60


def test_put_keeps_a_pause_unless_it_names_enabled(client, raw):
    url = f"{JOBS}/by-key/crm/reminder"
    job = send(client, "put", url, raw, noop("reminder")).json()
    services.pause([Job.objects.get(pk=job["id"])])  # an operator paused it on the dashboard
    assert send(client, "put", url, raw, noop("reminder")).json()["enabled"] is False
    assert send(client, "put", url, raw, noop("reminder", enabled=True)).json()["enabled"] is True


def test_put_refuses_what_the_form_refuses_and_odd_keys(client, raw):
    response = send(client, "put", f"{JOBS}/by-key/crm/x", raw, noop("x", interval_seconds=0))
    assert response.status_code == 422
    assert response.json()["errors"] == {"interval_seconds": ["Between 1 and 316224000 seconds."]}
    assert send(client, "put", f"{JOBS}/by-key/crm/x", raw, {**noop("x"), "service": "crm"}).status_code == 422
    assert send(client, "put", f"{JOBS}/by-key/crm/{'k' * 201}", raw, noop("x")).json()["errors"] == {
        "key": ["At most 200 characters."]
    }
    assert send(client, "put", f"{JOBS}/by-key/crm/a%00b", raw, noop("x")).status_code == 422
    slashed = send(client, "put", f"{JOBS}/by-key/crm/appointments/42", raw, noop("x"))
    assert slashed.status_code == 201 and slashed.json()["key"] == "appointments/42"
    assert not Job.objects.filter(external_key="x").exists()


# --- Reading -----------------------------------------------------------------------------------------------
def test_the_list_filters_and_pages_newest_first(client, raw):
    for n in range(7):
        send(client, "post", JOBS, raw, noop(f"job {n}", service="crm", key=f"k{n}"))
    send(client, "post", JOBS, raw, event())
    send(client, "post", JOBS, raw, noop("manual", schedule_type="manual", enabled=False))

    def names(**query):
        response = client.get(JOBS, query, **auth(raw))
        assert response.status_code == 200, response.content
        return [job["name"] for job in response.json()["items"]]

    assert names(service="crm") == [f"job {n}" for n in reversed(range(7))]
    assert names(kind="http_request") == ["Anniversary reminder"]
    assert names(enabled="false") == ["manual"]
    assert names(schedule_type="cron") == ["Anniversary reminder"]
    assert names(kind="nothing-like-it") == []

    seen, cursor = [], None
    while True:
        query = {"service": "crm", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(JOBS, query, **auth(raw)).json()
        seen += [job["name"] for job in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"job {n}" for n in reversed(range(7))]


@pytest.mark.parametrize(
    "query,field",
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "%00"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 10**9}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"enabled": "maybe"}, "enabled"),
        ({"schedule_type": "weekly"}, "schedule_type"),
        ({"kind": "a\x00b"}, "kind"),
        ({"service": "a\x00b"}, "service"),
    ],
)
def test_bad_list_parameters_are_422_on_the_parameter(client, raw, query, field):
    response = client.get(JOBS, query, **auth(raw))
    assert response.status_code == 422, response.content
    assert list(response.json()["errors"]) == [field]


@pytest.mark.parametrize("job_id", ["0", "-1", "9223372036854775808", "99999999999999999999999", "abc"])
def test_ids_no_job_can_have_are_404(client, raw, job_id):
    for method in ("get", "patch", "delete"):
        assert send(client, method, f"{JOBS}/{job_id}", raw, {} if method == "patch" else None).status_code == 404
    assert send(client, "post", f"{JOBS}/{job_id}/run", raw).status_code == 404


def test_a_job_shows_its_last_run_and_owner(client, raw):
    job = send(client, "post", JOBS, raw, noop("with runs")).json()
    run = services.run_now(Job.objects.get(pk=job["id"]))
    shown = send(client, "get", f"{JOBS}/{job['id']}", raw).json()
    assert shown["last_run"]["id"] == run.pk and shown["last_run"]["status"] == "queued"
    assert shown["owner"] == "" and shown["owner_label"] == ""


# --- Editing -----------------------------------------------------------------------------------------------
def test_patch_changes_only_what_it_names_and_keeps_the_schedule(client, raw):
    job = send(client, "post", JOBS, raw, event()).json()
    Job.objects.filter(pk=job["id"]).update(occurrences=2)
    before = Job.objects.get(pk=job["id"])
    response = send(client, "patch", f"{JOBS}/{job['id']}", raw, {"queue": "high", "timeout_seconds": 30})
    assert response.status_code == 200, response.content
    after = Job.objects.get(pk=job["id"])
    assert (after.queue, after.timeout_seconds, after.cron, after.name) == ("high", 30, "0 1 15 8 *", before.name)
    assert (after.occurrences, after.next_run_at) == (2, before.next_run_at)
    assert after.secrets == {"headers": {"Authorization": "Bearer s3cret"}}

    bad = send(client, "patch", f"{JOBS}/{job['id']}", raw, {"cron": "0 25 * * *"})
    assert bad.status_code == 422 and bad.json()["errors"]["cron"] == form_errors({"cron": "0 25 * * *"})["cron"]

    moved = send(client, "patch", f"{JOBS}/{job['id']}", raw, {"cron": "30 9 * * *", "timezone": "UTC"})
    assert moved.json()["next_occurrences"][0]["local"].endswith("T09:30:00+00:00")
    params = send(client, "patch", f"{JOBS}/{job['id']}", raw, {"params": {"url": "https://b.example/"}})
    assert params.json()["params"] == {"url": "https://b.example/", "method": "GET"}  # replaced wholly
    kind = send(client, "patch", f"{JOBS}/{job['id']}", raw, {"kind": "noop"})
    assert kind.status_code == 422 and "params" in kind.json()["errors"]
    assert send(client, "patch", f"{JOBS}/{job['id']}", raw, {"kind": "noop", "params": {}}).json()["kind"] == "noop"
    assert send(client, "patch", f"{JOBS}/{job['id']}", raw, {"service": "other"}).status_code == 422


def test_patch_enabled_pauses_and_resumes(client, raw):
    job = send(client, "post", JOBS, raw, event()).json()
    paused = send(client, "patch", f"{JOBS}/{job['id']}", raw, {"enabled": False})
    assert paused.status_code == 200
    assert paused.json()["enabled"] is False and paused.json()["next_run_at"] is None
    assert paused.json()["next_occurrences"] == []
    resumed = send(client, "patch", f"{JOBS}/{job['id']}", raw, {"enabled": True}).json()
    assert resumed["enabled"] is True and resumed["next_run_at"] == job["next_run_at"]
    assert len(resumed["next_occurrences"]) == 5


@pytest.fixture
def source_job():
    source = Source.objects.create(name="Tasks", kind="html", url="https://a.example/", interval_seconds=600)
    return sync_job(source)


def test_a_job_a_source_owns_is_edited_there(client, raw, source_job):
    url = f"{JOBS}/{source_job.pk}"
    shown = send(client, "get", url, raw).json()
    assert shown["owner"] == f"source:{source_job.params['source_id']}" and "Tasks" in shown["owner_label"]
    refused = send(client, "patch", url, raw, {"interval_seconds": 60})
    assert refused.status_code == 409 and "interval_seconds" in refused.json()["detail"]
    assert "Tasks" in refused.json()["detail"]
    assert send(client, "patch", url, raw, {"max_attempts": 3}).json()["max_attempts"] == 3
    assert send(client, "patch", url, raw, {"enabled": False}).json()["enabled"] is False
    assert Source.objects.get().enabled is False  # the owner follows its job
    deleted = send(client, "delete", url, raw)
    assert deleted.status_code == 409 and "delete the source instead" in deleted.json()["detail"]
    assert Job.objects.filter(pk=source_job.pk).exists()


def test_delete_removes_the_job_and_its_runs(client, raw):
    job = send(client, "post", JOBS, raw, noop("doomed")).json()
    services.run_now(Job.objects.get(pk=job["id"]))
    response = send(client, "delete", f"{JOBS}/{job['id']}", raw)
    assert response.status_code == 204 and response.content == b""
    assert not Job.objects.exists() and not Run.objects.exists()
    assert send(client, "get", f"{JOBS}/{job['id']}", raw).status_code == 404


# --- The document -----------------------------------------------------------------------------------------
def test_the_document_has_one_body_variant_per_job_kind(client):
    document = client.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    create = paths["/api/v1/jobs"]["post"]
    variants = create["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    kinds = {variant["properties"]["kind"]["const"]: variant for variant in variants}
    assert {"http_request", "noop", "check_people", "test_sleep"} <= set(kinds)
    http = kinds["http_request"]["properties"]["params"]["properties"]
    assert {"url", "method", "headers", "query", "json", "graphql_query", "graphql_variables"} <= set(http)
    assert kinds["http_request"]["properties"]["params"]["required"] == ["url"]
    assert kinds["test_sleep"]["properties"]["params"]["properties"]["seconds"]["type"] == "number"
    assert {"service", "key", "callback_url"} <= set(kinds["noop"]["properties"])
    put = paths["/api/v1/jobs/by-key/{service}/{key}"]["put"]
    assert "service" not in put["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]["properties"]
    assert {"200", "201", "400", "401", "403", "409", "413", "422", "429"} <= set(create["responses"])
    assert {"200", "401", "403", "404", "409", "422"} <= set(paths["/api/v1/jobs/{job_id}"]["patch"]["responses"])
    assert set(paths["/api/v1/jobs/{job_id}"]) == {"get", "patch", "delete"}
    operations = {op["operationId"] for item in paths.values() for op in item.values()}
    assert {"create_job", "put_job", "list_jobs", "get_job", "patch_job", "delete_job", "run_job"} <= operations


# --- Concurrency ------------------------------------------------------------------------------------------
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_declarations_make_one_job():
    raw = tokens.create("smartmei", scopes=["jobs:write"])[1]
    start, answers = threading.Barrier(20), []

    def declare():
        try:
            start.wait()
            response = send(Client(), "post", JOBS, raw, event(name=...))
            answers.append((response.status_code, response.json().get("id")))
        finally:
            connection.close()

    threads = [threading.Thread(target=declare) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    job = Job.objects.get(external_service="xulamps", external_key="event-42")
    assert sorted(status for status, _ in answers) == [200] * 19 + [201]
    assert {pk for _, pk in answers} == {job.pk}


def test_next_run_is_recomputed_from_the_new_schedule_only(client, raw):
    job = send(client, "post", JOBS, raw, noop("every minute")).json()
    stored = Job.objects.get(pk=job["id"])
    later = timezone.now() + timedelta(days=3)
    Job.objects.filter(pk=stored.pk).update(next_run_at=later)
    send(client, "patch", f"{JOBS}/{job['id']}", raw, {"name": "still every minute"})
    assert Job.objects.get(pk=stored.pk).next_run_at == later
    send(client, "patch", f"{JOBS}/{job['id']}", raw, {"interval_seconds": 120})
    assert Job.objects.get(pk=stored.pk).next_run_at < later
