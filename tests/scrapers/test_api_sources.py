"""The sources API (/api/v1/sources, /api/v1/items): the dashboard's form and paths behind JSON, every kind in
the OpenAPI document, masked header values, preview and check now against loopback sites, and a feed that
neither misses nor repeats an item."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation
from django_q.models import OrmQ

from channels_app import tokens
from scheduler.models import Job, Run
from scheduler.shared.api import encode
from scrapers.models import Item, ItemRevision, Source
from scrapers.sources.api import MASK
from scrapers.sources.kinds import base as kinds
from scrapers.sources.services import SourceForm
from tests.loopback.organizer import CONFIG, make_source, page

pytestmark = pytest.mark.django_db

SOURCES, ITEMS = "/api/v1/sources", "/api/v1/items"
CONFIGS = {
    "html": {"items": "li.task", "title": "h3", "link": "a@href", "id": "@data-id"},
    "json": {"items_path": "data.tasks", "fields": {"title": "name", "link": "url", "id": "id"}},
    "feed": {"limit": 10},
    "page_watch": {"selector": "main", "ignore": ".clock"},
}


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.VIGIA_API_RATE_PER_MINUTE = 0


@pytest.fixture
def api():
    """A client for a token with sources:read and sources:write."""
    return Api(tokens.create("bot", scopes=["sources:read", "sources:write"])[1])


@pytest.fixture
def reader():
    return Api(tokens.create("reader", scopes=["sources:read"])[1])


class Api:
    def __init__(self, raw):
        self.client, self.auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    def get(self, path, **query):
        return self.client.get(path, query, **self.auth)

    def post(self, path, data=None, raw=None):
        content = raw if raw is not None else json.dumps(data) if data is not None else ""
        return self.client.post(path, content, content_type="application/json", **self.auth)

    def patch(self, path, data):
        return self.client.patch(path, json.dumps(data), content_type="application/json", **self.auth)

    def delete(self, path):
        return self.client.delete(path, **self.auth)


def new(kind="html", **fields):
    data = {"name": "Tarefas", "kind": kind, "url": "https://example.org/tasks", "config": CONFIGS.get(kind, {})}
    return {**data, **fields}


def form_errors(data):
    """What the dashboard's SourceForm says about the same values."""
    defaults = {"method": "GET", "timeout_seconds": 15, "interval_seconds": 60, "timezone": "UTC"}
    with translation.override("en"):  # the API speaks English
        form = SourceForm(data={**defaults, **data})
        assert not form.is_valid()
    return {name: list(messages) for name, messages in form.errors.items()}


def old_item(source, key, seconds_ago=60, **fields):
    seen = timezone.now() - timedelta(seconds=seconds_ago)
    return Item.objects.create(
        source=source, key=key, title=f"Task {key}", content_hash=key, first_seen=seen, last_seen=seen, **fields
    )


# --- the document ---------------------------------------------------------------------------------------------


def test_the_served_document_offers_one_create_variant_per_scraper_kind():
    document = Client().get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/sources"]["post"]
    variants = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert sorted(v["properties"]["kind"]["const"] for v in variants) == kinds.names()
    html = next(v for v in variants if v["properties"]["kind"]["const"] == "html")
    assert html["properties"]["config"]["required"] == ["items"] and "config" in html["required"]
    assert html["properties"]["timeout_seconds"]["type"] == "number"
    preview = document["paths"]["/api/v1/sources/preview"]["post"]
    variants = preview["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert sorted(v["properties"]["kind"]["const"] for v in variants) == kinds.names()
    assert "name" not in variants[0]["properties"]
    for path, methods in document["paths"].items():
        if path.startswith(("/api/v1/sources", "/api/v1/items")):
            for operation in methods.values():
                assert operation["tags"] == ["sources"] and "sources:" in operation["description"]
                assert {"401", "403", "429"} <= set(operation["responses"])


# --- create -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_a_source_of_each_kind_is_created_with_its_job(api, kind):
    response = api.post(SOURCES, new(kind, headers={"Cookie": "session=s3cr3t"}, timeout_seconds=2.5))
    assert response.status_code == 201, response.content
    answer = response.json()
    source = Source.objects.get()
    assert answer["id"] == source.pk and answer["kind"] == kind and answer["config"] == source.config
    assert answer["job"] == source.job_id and Job.objects.get().params == {"source_id": source.pk}
    assert answer["timeout_seconds"] == 2.5 and answer["interval_seconds"] == 60  # the model's default
    assert answer["health"]["status"] == "new"
    assert source.headers == {"Cookie": "session=s3cr3t"}
    assert answer["headers"] == {"Cookie": MASK} and "s3cr3t" not in response.content.decode()


@pytest.mark.parametrize(
    "change",
    [
        {"config": {"items": "li[["}},  # a CSS selector that does not compile
        {"config": {"items": "li", "title": "h3@"}},
        {"config": {"items": "li@href"}},
        {"url": "ftp://example.org/"},
        {"url": "http://10.0.0.1/admin"},  # the outbound guard's message
        {"kind": "json", "config": {"fields": {"nope": "x"}}},
        {"headers": {"Bad Name": "x"}},
        {"interval_seconds": None},
        {"cron": "61 * * * *"},
        {"timezone": "Mars/Olympus"},
    ],
)
def test_refusals_carry_the_dashboard_forms_field_messages(api, change):
    data = new(**change)
    response = api.post(SOURCES, data)
    assert response.status_code == 422, response.content
    assert response.json() == {"detail": "Invalid request.", "errors": form_errors(data)}
    assert not Source.objects.exists() and not Job.objects.exists()


def test_an_unknown_kind_is_422_on_kind_listing_the_kinds(api):
    for data in (new(kind="nope", config={}), new(kind=5, config={}), {"name": "x", "url": "https://a.org/"}):
        response = api.post(SOURCES, data)
        assert response.status_code == 422, response.content
        (message,) = response.json()["errors"]["kind"]
        assert all(name in message for name in kinds.names()), message
    assert api.post(SOURCES, new(kind="nope")).json()["errors"]["kind"] == form_errors(new(kind="nope"))["kind"]


def test_bodies_of_the_wrong_shape_are_refused_by_field(api):
    cases = [
        ({**new(), "colour": "blue"}, "colour", "Unknown field."),
        ({**new(), "config": {**CONFIGS["html"], "colour": "x"}}, "config.colour", "Unknown field."),
        ({**new(), "interval_seconds": "often"}, "interval_seconds", "Expected integer or null."),
        ({**new(), "enabled": "yes"}, "enabled", "Expected boolean."),
        ({**new(), "headers": {"Cookie": 5}}, "headers.Cookie", "Expected string."),
        ({**new(), "timeout_seconds": 1000}, "timeout_seconds", "At most 120."),
        ({**new(), "name": ""}, "name", "Required."),
        ({"kind": "html", "url": "https://a.org/", "config": CONFIGS["html"]}, "name", "Required."),
    ]
    for data, field, message in cases:
        response = api.post(SOURCES, data)
        assert response.status_code == 422, (data, response.content)
        assert message in response.json()["errors"][field], (field, response.json())
    for raw in ("[1, 2]", "{not json", '{"name": "\\u0000"}'):
        assert api.post(SOURCES, raw=raw).status_code == 400
    assert not Source.objects.exists()


def test_a_taken_name_is_the_forms_message(api):
    assert api.post(SOURCES, new()).status_code == 201
    response = api.post(SOURCES, new())
    assert response.status_code == 422
    assert response.json()["errors"]["name"] == form_errors(new())["name"]


# --- read and list ------------------------------------------------------------------------------------------


def test_a_source_is_read_with_its_header_values_masked(api, reader):
    made = make_source("https://example.org/t", headers={"Cookie": "sid=abc123", "X-Api-Key": "k-999"})
    response = reader.get(f"{SOURCES}/{made.pk}")
    assert response.status_code == 200
    assert response.json()["headers"] == {"Cookie": MASK, "X-Api-Key": MASK}
    assert "abc123" not in response.content.decode() and "k-999" not in response.content.decode()
    listed = reader.get(SOURCES).content.decode()
    assert "abc123" not in listed and MASK in listed


def test_the_list_pages_newest_first_without_gaps_and_filters(api):
    made = [make_source("https://example.org/t", name=f"S{n}") for n in range(7)]
    made.append(make_source("https://example.org/f", name="Feed", kind="feed", config={}, enabled=False))
    seen, cursor = [], None
    while True:
        answer = api.get(SOURCES, limit=3, **({"cursor": cursor} if cursor else {})).json()
        seen += [row["id"] for row in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((s.pk for s in made), reverse=True)
    assert [r["name"] for r in api.get(SOURCES, kind="feed").json()["items"]] == ["Feed"]
    assert [r["name"] for r in api.get(SOURCES, enabled="false").json()["items"]] == ["Feed"]
    assert len(api.get(SOURCES, enabled="true").json()["items"]) == 7
    assert len(api.get(SOURCES, health="new").json()["items"]) == 8
    assert api.get(SOURCES, health="ok").json() == {"items": [], "next_cursor": None}


def test_bad_queries_are_422_never_500(api):
    for query, field in [
        ({"cursor": "nope!"}, "cursor"),
        ({"cursor": "\u0000"}, "cursor"),
        ({"cursor": encode(2**63)}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"kind": "nope"}, "kind"),
        ({"kind": "\u0000"}, "kind"),
        ({"health": "meh"}, "health"),
        ({"enabled": "perhaps"}, "enabled"),
    ]:
        response = api.get(SOURCES, **query)
        assert response.status_code == 422, (query, response.content)
        assert field in response.json()["errors"], (query, response.json())
    for path in ("/99999999999999999999999", f"/{2**63}", "/0", "/abc"):
        for call in (api.get, api.delete):
            response = call(SOURCES + path)
            assert response.status_code == 404, (path, response.content)
        assert api.patch(SOURCES + path, {"name": "x"}).status_code == 404
        assert api.post(SOURCES + path + "/check").status_code == 404


# --- edit ---------------------------------------------------------------------------------------------------


def test_a_patch_changes_only_the_fields_it_names(api):
    made = make_source("https://example.org/t", headers={"Cookie": "sid=abc123"}, cron="", interval_seconds=300)
    before = Source.objects.values().get(pk=made.pk)
    response = api.patch(f"{SOURCES}/{made.pk}", {"name": "Renamed"})
    assert response.status_code == 200, response.content
    after = Source.objects.values().get(pk=made.pk)
    assert after.pop("name") == "Renamed" and after.pop("updated_at") >= before.pop("updated_at")
    before.pop("name")
    assert after == before  # headers, config, schedule: untouched
    assert Job.objects.get(pk=made.job_id).name.endswith("Renamed")

    response = api.patch(f"{SOURCES}/{made.pk}", {"interval_seconds": 90, "headers": {"Cookie": MASK, "X-A": "1"}})
    assert response.status_code == 200 and response.json()["headers"] == {"Cookie": MASK, "X-A": MASK}
    made.refresh_from_db()
    assert made.headers == {"Cookie": "sid=abc123", "X-A": "1"}  # the masked value kept what was stored
    assert made.interval_seconds == 90 and Job.objects.get(pk=made.job_id).interval_seconds == 90
    assert made.config == CONFIG


def test_a_patched_config_is_checked_by_its_kind_as_in_the_dashboard(api):
    made = make_source("https://example.org/t")
    response = api.patch(f"{SOURCES}/{made.pk}", {"config": {"items": "li[["}})
    assert response.status_code == 422
    data = {"name": "Another", "kind": "html", "url": made.url, "config": {"items": "li[["}}
    assert response.json()["errors"] == form_errors(data)
    response = api.patch(f"{SOURCES}/{made.pk}", {"kind": "json"})  # the html config is not a json one
    assert response.status_code == 422 and response.json()["errors"]["config"] == ["fields: This field is required."]
    response = api.patch(f"{SOURCES}/{made.pk}", {"config": {"fields": {"title": "name"}}})  # html's schema
    assert response.status_code == 422 and "config.fields" in response.json()["errors"]
    response = api.patch(f"{SOURCES}/{made.pk}", {"kind": "json", "config": CONFIGS["json"]})
    assert response.status_code == 200 and response.json()["config"] == CONFIGS["json"]
    made.refresh_from_db()
    assert made.kind == "json" and made.name == "Organizer"


def test_pausing_through_a_patch_pauses_the_job(api):
    made = make_source("https://example.org/t")
    assert api.patch(f"{SOURCES}/{made.pk}", {"enabled": False}).json()["enabled"] is False
    assert Job.objects.get(pk=made.job_id).enabled is False
    assert api.patch(f"{SOURCES}/{made.pk}", {}).json()["enabled"] is False  # an empty patch changes nothing


# --- delete and check now -----------------------------------------------------------------------------------


def test_deleting_a_source_deletes_its_job_and_items(api):
    made = make_source("https://example.org/t")
    old_item(made, "a")
    keep = make_source("https://example.org/u", name="Other")
    response = api.delete(f"{SOURCES}/{made.pk}")
    assert response.status_code == 204 and response.content == b""
    assert list(Source.objects.all()) == [keep] and list(Job.objects.all()) == [keep.job]
    assert not Item.objects.exists()
    assert api.get(f"{SOURCES}/{made.pk}").status_code == 404
    assert api.delete(f"{SOURCES}/{made.pk}").status_code == 404


def test_check_now_queues_a_manual_run_of_the_sources_job(api):
    made = make_source("https://example.org/t")
    response = api.post(f"{SOURCES}/{made.pk}/check")
    assert response.status_code == 202, response.content
    run = Run.objects.get()
    assert response.json() == {
        "run": run.pk,
        "job": made.job_id,
        "status": "queued",
        "trigger": "manual",
        "queued_at": run.queued_at.isoformat(),
    }
    assert run.trigger == Run.Trigger.MANUAL and OrmQ.objects.count() == 1


def test_check_now_runs_the_check_against_the_site(api, site, settings):
    """The queued run, executed as a worker would, checks the loopback page and stores its items."""
    from scheduler import execution

    site.respond("/tarefas", body=page((1, "Primeira", "a"), (2, "Segunda", "b")))
    made = make_source(site.url + "/tarefas")
    run_id = api.post(f"{SOURCES}/{made.pk}/check").json()["run"]
    execution.execute_run(run_id)
    assert Run.objects.get(pk=run_id).status == Run.Status.SUCCEEDED
    assert sorted(Item.objects.values_list("title", flat=True)) == ["Primeira", "Segunda"]
    assert site.requests[0].path == "/tarefas"


# --- preview ------------------------------------------------------------------------------------------------


def preview_body(url, **fields):
    return {"kind": "html", "url": url, "config": {**CONFIG}, **fields}


def test_preview_answers_what_the_config_extracts_and_stores_nothing(api, site):
    site.respond("/tarefas", body=page((1, "Primeira", "um"), (2, "<b>Segunda</b>", "dois")))
    response = api.post(f"{SOURCES}/preview", preview_body(site.url + "/tarefas", headers={"Cookie": "c=1"}))
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["found"] == 2 and answer["shown"] == 2 and answer["http_status"] == 200
    first, second = answer["items"]
    assert first["title"] == "Primeira" and first["url"] == site.url + "/t/1" and first["key"] == "1"
    assert first["body"] == "um" and first["fields"]["title"] == "Primeira"
    assert second["title"] == "Segunda"  # text, as scraped: no markup
    assert site.requests[0].header("Cookie") == "c=1"
    assert not Source.objects.exists() and not Item.objects.exists() and not Job.objects.exists()


@pytest.mark.parametrize("kind", ["json", "feed", "page_watch"])
def test_preview_of_every_kind(api, site, kind):
    bodies = {
        "json": {"data": {"tasks": [{"id": 7, "name": "Sete", "url": "/t/7"}]}},
        "feed": (
            "<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
            "<item><title>Sete</title><link>https://example.org/t/7</link><guid>7</guid></item></channel></rss>"
        ),
        "page_watch": "<html><body><main>Sete</main><div class='clock'>12:00</div></body></html>",
    }
    headers = {"Content-Type": "application/rss+xml"} if kind == "feed" else {"Content-Type": "text/html"}
    site.respond("/doc", body=bodies[kind], headers={} if kind == "json" else headers)
    response = api.post(f"{SOURCES}/preview", {"kind": kind, "url": site.url + "/doc", "config": CONFIGS[kind]})
    assert response.status_code == 200, response.content
    assert response.json()["found"] == 1 and "Sete" in json.dumps(response.json()["items"])


@pytest.mark.parametrize(
    "status, message", [(500, "HTTP 500 from 127.0.0.1"), (404, "HTTP 404 from 127.0.0.1"), (200, "")]
)
def test_preview_of_a_failing_upstream_is_a_422_saying_why(api, site, settings, status, message):
    settings.VIGIA_FETCH_RETRIES = 0
    site.respond("/doc", status=status, body="{not json" if status == 200 else "oops")
    response = api.post(
        f"{SOURCES}/preview", {"kind": "json", "url": site.url + "/doc", "config": {"fields": {"title": "t"}}}
    )
    assert response.status_code == 422, response.content
    detail, (error,) = response.json()["detail"], response.json()["errors"]["url"]
    assert detail == f"The preview failed: {error}" and message in error
    if status == 200:
        assert "invalid JSON" in detail
    assert not Source.objects.exists()


def test_preview_of_a_timeout_is_a_422(api, site, settings):
    settings.VIGIA_FETCH_RETRIES = 0
    site.respond("/slow", body=page((1, "A", "a")), delay=3)
    response = api.post(f"{SOURCES}/preview", preview_body(site.url + "/slow", timeout_seconds=0.5))
    assert response.status_code == 422 and "timed out after 0.5 s" in response.json()["errors"]["url"][0]


def test_preview_refuses_a_bad_config_without_fetching(api, site):
    data = preview_body(site.url + "/tarefas", config={"items": "li[["})
    response = api.post(f"{SOURCES}/preview", data)
    assert response.status_code == 422
    assert response.json()["errors"] == {"config": form_errors({**data, "name": "x"})["config"]}
    response = api.post(f"{SOURCES}/preview", {**preview_body(site.url + "/tarefas"), "name": "x"})
    assert response.status_code == 422 and response.json()["errors"] == {"name": ["Unknown field."]}
    response = api.post(f"{SOURCES}/preview", preview_body("http://169.254.169.254/latest"))
    assert response.status_code == 422 and "not a public address" in response.json()["errors"]["url"][0]
    assert not site.requests


# --- the items feed -----------------------------------------------------------------------------------------


def read_feed(api, since=None, **query):
    response = api.get(ITEMS, **query, **({"since": since} if since is not None else {}))
    assert response.status_code == 200, response.content
    answer = response.json()
    return [row["id"] for row in answer["items"]], answer["next_since"]


def test_the_feed_serves_every_item_once_across_pages_and_new_items(api):
    made = make_source("https://example.org/t")
    other = make_source("https://example.org/u", name="Other")
    expected = [old_item(made if n % 2 else other, f"k{n}").pk for n in range(23)]
    seen, since = [], None
    for _ in range(3):
        rows, since = read_feed(api, since, limit=10)
        seen += rows
    assert seen == expected
    rows, again = read_feed(api, since, limit=10)
    assert rows == [] and again == since  # nothing new: the same cursor
    expected += [old_item(made, f"n{n}").pk for n in range(4)]
    rows, since = read_feed(api, since, limit=3)
    seen += rows
    rows, since = read_feed(api, since, limit=3)
    seen += rows
    assert seen == expected and len(set(seen)) == len(seen)
    assert read_feed(api, since) == ([], since)


def test_a_feed_item_carries_the_items_fields(api):
    made = make_source("https://example.org/t")
    item = old_item(
        made,
        "k1",
        url="https://example.org/t/1",
        body="Texto <b>cru</b>",
        raw={"title": "Task k1", "n": 3},
        revisions_count=1,
        attachments=[{"url": "https://example.org/t/1/mapa.png", "name": "mapa.png"}],
    )
    changed = timezone.now() - timedelta(seconds=30)
    ItemRevision.objects.create(item=item, content_hash="old", valid_from=item.first_seen, replaced_at=changed)
    (row,) = api.get(ITEMS).json()["items"]
    assert row == {
        "id": item.pk,
        "source": made.pk,
        "source_name": "Organizer",
        "key": "k1",
        "title": "Task k1",
        "url": "https://example.org/t/1",
        "body": "Texto <b>cru</b>",
        "published_at": None,
        "fields": {"title": "Task k1", "n": 3},
        "first_seen": item.first_seen.isoformat(),
        "last_seen": item.last_seen.isoformat(),
        "changed_at": changed.isoformat(),
        "revisions": 1,
        "attachments": [{"url": "https://example.org/t/1/mapa.png", "name": "mapa.png"}],
    }


def test_the_feed_waits_out_the_settle_window(api, settings):
    settings.VIGIA_API_FEED_SETTLE = 30.0
    made = make_source("https://example.org/t")
    settled = old_item(made, "old", seconds_ago=31)
    fresh = old_item(made, "new", seconds_ago=1)
    rows, since = read_feed(api)
    assert rows == [settled.pk]  # the fresh one is not served yet, and the cursor has not passed it
    Item.objects.filter(pk=fresh.pk).update(first_seen=timezone.now() - timedelta(seconds=31))
    assert read_feed(api, since) == ([fresh.pk], encode(fresh.pk))


def test_the_feed_filters_by_source(api):
    made = make_source("https://example.org/t")
    other = make_source("https://example.org/u", name="Other")
    mine = [old_item(made, f"m{n}").pk for n in range(3)]
    [old_item(other, f"o{n}") for n in range(3)]
    rows, since = read_feed(api, source=made.pk, limit=2)
    more, since = read_feed(api, since, source=made.pk, limit=2)
    assert rows + more == mine and since == encode(mine[-1])
    response = api.get(ITEMS, source=999999)
    assert response.status_code == 422 and response.json()["errors"] == {"source": ["No source has this id."]}


def test_bad_feed_queries_are_422(api):
    for query, field in [
        ({"since": "garbage"}, "since"),
        ({"since": "\u0000"}, "since"),
        ({"since": encode(2**63)}, "since"),
        ({"since": "-1"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_000}, "limit"),
        ({"source": 2**63}, "source"),
        ({"source": "x"}, "source"),
        ({"source": 0}, "source"),
    ]:
        response = api.get(ITEMS, **query)
        assert response.status_code == 422, (query, response.content)
        assert field in response.json()["errors"], (query, response.json())


# --- scopes -------------------------------------------------------------------------------------------------


def test_a_read_only_token_reads_but_every_write_is_403_naming_the_scope(reader):
    made = make_source("https://example.org/t")
    assert reader.get(SOURCES).status_code == 200 and reader.get(ITEMS).status_code == 200
    assert reader.get(f"{SOURCES}/{made.pk}").status_code == 200
    for response in [
        reader.post(SOURCES, new(name="Nova")),
        reader.patch(f"{SOURCES}/{made.pk}", {"name": "x"}),
        reader.delete(f"{SOURCES}/{made.pk}"),
        reader.post(f"{SOURCES}/{made.pk}/check"),
        reader.post(f"{SOURCES}/preview", preview_body("https://example.org/")),
    ]:
        assert response.status_code == 403
        assert response.json() == {"detail": "This token lacks the scope sources:write."}
    assert list(Source.objects.values_list("name", flat=True)) == ["Organizer"] and not Run.objects.exists()


def test_other_resources_scopes_do_not_read_sources():
    other = Api(tokens.create("jobs", scopes=["jobs:write", "people:write"])[1])
    for path in (SOURCES, ITEMS):
        response = other.get(path)
        assert response.status_code == 403 and "sources:read" in response.json()["detail"]
    assert Client().get(SOURCES).status_code == 401
