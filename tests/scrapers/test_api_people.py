"""The people API (/api/v1/people, /api/v1/publications): people created once per normalized name + CPF/CNPJ
(as the CSV import identifies them) with their first check queued, listed a page at a time, edited field by
field with the form's own messages, deleted, checked now one by one or all together; and the publications
feed a case system polls without missing or repeating an entry, even while new ones arrive."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone, translation
from django_q.models import OrmQ

from channels_app import tokens
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people.services import PersonForm
from tests.scrapers.people_support import days_ago, djen_fixture, make_person  # noqa: F401 (the `djen` fixture)

pytestmark = pytest.mark.django_db

PEOPLE = "/api/v1/people"
FEED = "/api/v1/publications"
CPF = "529.982.247-25"  # a valid CPF (check digits)


@pytest.fixture
def writer():
    return tokens.create("case system", scopes=["people:read", "people:write"])[1]


@pytest.fixture
def reader():
    return tokens.create("dashboard reader", scopes=["people:read"])[1]


@pytest.fixture
def stranger():
    return tokens.create("messages only", scopes=["messages:read", "messages:write"])[1]


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def send(method, path, raw, data=None, client=None):
    client = client or Client()
    call = getattr(client, method)
    if data is None:
        return call(path, **auth(raw))
    payload = data if isinstance(data, str | bytes) else json.dumps(data)
    return call(path, payload, content_type="application/json", **auth(raw))


def create(raw, **fields):
    return send("post", PEOPLE, raw, fields)


def form_messages(**data):
    """PersonForm's own messages for `data` (over a new person's defaults), in the API's language."""
    with translation.override("en"):
        form = PersonForm(data={"check_interval_minutes": 30, "active": True, **data})
        form.is_valid()
        return {name: list(messages) for name, messages in form.errors.items()}


# --- creating ------------------------------------------------------------------------------------


def test_creating_a_person_queues_the_first_check_and_repeating_it_returns_the_same_person(writer):
    response = create(writer, name="José da Silva", document=CPF, tribunals="tjsp, trt2", recipients=["ana@x.com.br"])
    assert response.status_code == 201, response.content
    person = response.json()
    assert person["name"] == "José da Silva" and person["document"] == "52998224725"
    assert person["tribunals"] == "TJSP,TRT2" and person["recipients"] == ["ana@x.com.br"]
    assert person["active"] is True and person["first_check"] == "pending"
    assert person["check_interval_minutes"] == 30  # VIGIA_PEOPLE_CHECK_MINUTES's default, as the form gives it
    run = Run.objects.get(job_id=person["job_id"])
    assert run.status == Run.Status.QUEUED and run.job.kind == "check_person"
    assert OrmQ.objects.filter(key=Job.Queue.HIGH).count() == 1  # first checks go ahead of the routine cycle

    again = create(writer, name="José da Silva", document=CPF, tribunals="tjsp, trt2", recipients=["ana@x.com.br"])
    assert again.status_code == 200 and again.json()["id"] == person["id"]
    assert MonitoredPerson.objects.count() == 1 and Run.objects.count() == 1  # nothing queued twice


def test_another_spelling_of_the_same_name_and_document_is_the_same_person(writer):
    first = create(writer, name="José da Silva", document=CPF).json()
    response = create(writer, name="  JOSE   DA SILVA ", document="52998224725", notes="another note")
    assert response.status_code == 200
    assert response.json() == first  # unchanged: the repeat edits nothing (PATCH does)
    assert MonitoredPerson.objects.count() == 1


def test_the_same_name_with_another_document_or_none_is_someone_else(writer):
    with_cpf = create(writer, name="Maria Lima", document=CPF)
    without = create(writer, name="Maria Lima")
    assert with_cpf.status_code == without.status_code == 201
    assert with_cpf.json()["id"] != without.json()["id"]
    assert create(writer, name="maria lima").json()["id"] == without.json()["id"]


def test_a_repeat_must_still_be_a_body_the_form_accepts(writer):
    create(writer, name="José da Silva", document=CPF)
    response = create(writer, name="José da Silva", document=CPF, check_interval_minutes=2)
    assert response.status_code == 422
    assert response.json()["errors"] == form_messages(name="Ana Souza", check_interval_minutes=2)


def test_invalid_bodies_get_the_forms_messages_by_field_and_nothing_is_saved(writer):
    cases = [
        {"name": "Jo"},
        {"name": "Ana Souza", "document": "529.982.247-26"},
        {"name": "Ana Souza", "check_interval_minutes": 2},
        {"name": "Ana Souza", "oab_number": "123"},
        {"name": "Ana Souza", "recipients": "not an address"},
        {"name": "Ana Souza", "monitor_until": "2001-01-01"},
        {"name": "Ana Souza", "tribunals": "TJXX"},
    ]
    for data in cases:
        response = create(writer, **data)
        assert response.status_code == 422, (data, response.content)
        assert response.json() == {"detail": "Invalid request.", "errors": form_messages(**data)}, data
    assert not MonitoredPerson.objects.exists() and not Run.objects.exists()


def test_the_body_is_checked_against_the_forms_schema_first(writer):
    cases = [
        ({}, {"name": ["Required."]}),
        ({"name": "Ana Souza", "nickname": "Aninha"}, {"nickname": ["Unknown field."]}),
        ({"name": "Ana Souza", "active": "yes"}, {"active": ["Expected boolean."]}),
        ({"name": 5}, {"name": ["Expected string."]}),
        ({"name": "Ana Souza", "check_interval_minutes": "30"}, {"check_interval_minutes": ["Expected integer."]}),
        ({"name": "x" * 201}, {"name": ["At most 200 characters."]}),
    ]
    for data, errors in cases:
        response = create(writer, **data)
        assert response.status_code == 422 and response.json()["errors"] == errors, (data, response.content)
    for raw in ['{"name": "Ana', "[1, 2]", '{"name": "Ana\\u0000 Souza"}']:
        response = send("post", PEOPLE, writer, raw)
        assert response.status_code == 400 and "body" in response.json()["errors"], raw
    assert not MonitoredPerson.objects.exists()


def test_a_person_is_created_by_the_same_form_the_dashboard_uses(writer):
    person = create(writer, name="Ana Souza", oab_number="0123456", oab_uf="sp", monitor_until="31/12/2099").json()
    assert (person["oab_number"], person["oab_uf"], person["monitor_until"]) == ("123456", "SP", "2099-12-31")
    stored = MonitoredPerson.objects.get(pk=person["id"])
    assert stored.normalized_name == "ana souza" and stored.job.name == f"Person #{stored.pk}: Ana Souza"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one writer at a time")
def test_two_requests_creating_the_same_person_at_once_create_one():
    raw = tokens.create("case system", scopes=["people:write"])[1]
    start, answers = threading.Barrier(4), []

    def post(name):
        try:
            start.wait()
            response = create(raw, name=name, document=CPF)
            answers.append((response.status_code, response.json()["id"]))
        finally:
            close_old_connections()
            connection.close()

    names = ["Ana Souza", "ANA SOUZA", "ana  souza", "Aná Souza"]
    threads = [threading.Thread(target=post, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201]
    assert len({pk for _, pk in answers}) == 1
    assert MonitoredPerson.objects.count() == 1 and Run.objects.count() == 1


# --- reading -------------------------------------------------------------------------------------


def test_the_list_pages_newest_first_without_repeating_anyone(reader):
    people = [make_person(name=f"Pessoa {letter}") for letter in "ABCDEFG"]
    seen, cursor, pages = [], None, 0
    while True:
        query = f"?limit=3&cursor={cursor}" if cursor else "?limit=3"
        page = send("get", PEOPLE + query, reader).json()
        seen += [person["id"] for person in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [person.pk for person in reversed(people)]


def test_the_list_filters_as_the_people_page_does(reader):
    ana = make_person(name="Ana Souza", document=CPF, tribunals="TJSP")
    make_person(name="Bia Lima", active=False)
    caio = make_person(name="Caio Dias")

    def ids(query):
        response = send("get", PEOPLE + query, reader)
        assert response.status_code == 200, response.content
        return [person["id"] for person in response.json()["items"]]

    assert ids("?q=souza") == ids("?q=SÓUZA") == ids("?q=529.982") == [ana.pk]
    assert ids("?active=true") == [caio.pk, ana.pk]
    assert ids("?tribunal=TJSP") == [ana.pk]
    assert ids("?active=false&q=caio") == []


def test_a_person_and_unknown_ids(reader):
    person = make_person(name="Ana Souza")
    response = send("get", f"{PEOPLE}/{person.pk}", reader)
    assert response.status_code == 200 and response.json()["name"] == "Ana Souza"
    for pk in [person.pk + 1, 0, -1, 2**63, 10**30, "abc"]:
        response = send("get", f"{PEOPLE}/{pk}", reader)
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}, pk


def test_bad_list_and_feed_parameters_are_422_by_field(reader):
    for path, field in [
        (PEOPLE + "?limit=0", "limit"),
        (PEOPLE + "?limit=501", "limit"),
        (PEOPLE + "?limit=abc", "limit"),
        (PEOPLE + "?cursor=bm9wZQ", "cursor"),
        (PEOPLE + "?cursor=%00", "cursor"),
        (PEOPLE + "?q=a%00b", "q"),
        (PEOPLE + "?tribunal=XYZ", "tribunal"),
        (PEOPLE + "?expiring=99999", "expiring"),
        (PEOPLE + "?active=maybe", "active"),
        (FEED + "?since=!!", "since"),
        (FEED + "?since=" + "9" * 40, "since"),
        (FEED + "?limit=100000000000000000000000", "limit"),
        (FEED + "?person=99999999999999999999", "person"),
        (FEED + "?person=1", "person"),
        (FEED + "?person=x", "person"),
    ]:
        response = send("get", path, reader)
        assert response.status_code == 422, (path, response.content)
        assert list(response.json()["errors"]) == [field], path


# --- editing and deleting ------------------------------------------------------------------------


def test_patch_changes_only_the_fields_it_names(writer):
    person = create(writer, name="Ana Souza", document=CPF, notes="old", tribunals="TJSP").json()
    response = send("patch", f"{PEOPLE}/{person['id']}", writer, {"notes": "new"})
    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["notes"] == "new"
    assert {k: v for k, v in changed.items() if k not in ("notes", "updated_at")} == {
        k: v for k, v in person.items() if k not in ("notes", "updated_at")
    }

    response = send("patch", f"{PEOPLE}/{person['id']}", writer, {"active": False})
    assert response.json()["active"] is False
    assert not Job.objects.get(pk=person["job_id"]).enabled  # as the dashboard's deactivate leaves it


def test_patch_refuses_with_the_forms_messages_and_changes_nothing(writer):
    ana = create(writer, name="Ana Souza", document=CPF).json()
    bia = create(writer, name="Bia Lima").json()
    url = f"{PEOPLE}/{bia['id']}"
    response = send("patch", url, writer, {"check_interval_minutes": 4})
    assert response.status_code == 422 and response.json()["errors"] == form_messages(
        name="Someone Else", check_interval_minutes=4
    )
    response = send("patch", url, writer, {"name": "ANA SOUZA", "document": CPF})
    assert response.status_code == 422
    assert response.json()["errors"] == {"name": [f"Already monitored: Ana Souza (#{ana['id']})."]}
    assert send("patch", url, writer, {"name": None}).json()["errors"] == {"name": ["Expected string."]}
    assert send("patch", url, writer, {"surname": "x"}).json()["errors"] == {"surname": ["Unknown field."]}
    assert send("get", url, writer).json() == bia
    assert send("patch", f"{PEOPLE}/{10**30}", writer, {"notes": "x"}).status_code == 404


def test_delete_removes_the_person_with_their_job(writer):
    person = create(writer, name="Ana Souza").json()
    url = f"{PEOPLE}/{person['id']}"
    response = send("delete", url, writer)
    assert response.status_code == 204 and response.content == b""
    assert send("get", url, writer).status_code == 404
    assert not Job.objects.filter(pk=person["job_id"]).exists()
    assert send("delete", url, writer).status_code == 404


# --- checking now --------------------------------------------------------------------------------


def test_check_now_queues_one_check_and_keeps_a_waiting_one(writer):
    person = create(writer, name="Ana Souza").json()
    Run.objects.update(status=Run.Status.SUCCEEDED)  # the first check is done
    url = f"{PEOPLE}/{person['id']}/check"
    response = send("post", url, writer)
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["queued"] is True and answer["run_status"] == "queued"
    assert Run.objects.get(pk=answer["run_id"]).job_id == person["job_id"]

    again = send("post", url, writer).json()
    assert again["queued"] is False and again["run_id"] == answer["run_id"]
    assert Run.objects.filter(job_id=person["job_id"], status=Run.Status.QUEUED).count() == 1

    send("patch", f"{PEOPLE}/{person['id']}", writer, {"active": False})
    response = send("post", url, writer)
    assert response.status_code == 409 and "inactive" in response.json()["detail"]
    assert send("post", f"{PEOPLE}/{person['id'] + 1}/check", writer).status_code == 404


def test_check_everyone_starts_the_dashboards_sync_run(writer):
    people = [make_person(name=name) for name in ["Ana Souza", "Bia Lima", "Caio Dias"]]
    make_person(name="Davi Inativo", active=False)
    Run.objects.update(status=Run.Status.SUCCEEDED)  # the first checks are done

    response = send("post", f"{PEOPLE}/check", writer)
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["people"] == 3 and answer["status"] == "queued"
    sync = Run.objects.get(pk=answer["run_id"])
    assert sync.job.kind == "sync_people"
    assert send("post", f"{PEOPLE}/check", writer).json()["run_id"] == sync.pk  # one run, however many asks

    execute_run(sync.pk)
    assert Run.objects.get(pk=sync.pk).result == {"queued": 3}
    assert Run.objects.filter(status=Run.Status.QUEUED, job__person__in=people).count() == 3


# --- scopes --------------------------------------------------------------------------------------


def test_writes_need_people_write_and_reads_people_read(writer, reader, stranger):
    person = create(writer, name="Ana Souza").json()
    url = f"{PEOPLE}/{person['id']}"
    for method, path, data in [
        ("post", PEOPLE, {"name": "Bia Lima"}),
        ("patch", url, {"notes": "x"}),
        ("delete", url, None),
        ("post", f"{url}/check", None),
        ("post", f"{PEOPLE}/check", None),
    ]:
        response = send(method, path, reader, data)
        assert response.status_code == 403, (method, path)
        assert response.json() == {"detail": "This token lacks the scope people:write."}
    for path in [PEOPLE, url, FEED]:
        response = send("get", path, stranger)
        assert response.status_code == 403 and response.json()["detail"] == "This token lacks the scope people:read."
        assert send("get", path, reader).status_code == 200
        assert Client().get(path).status_code == 401
    assert MonitoredPerson.objects.count() == 1 and send("get", url, reader).json() == person


# --- the publications feed -----------------------------------------------------------------------


def keep(person, djen_id, age=timedelta(minutes=1), **fields):
    """A publication kept for `person` `age` ago, as a check stores it."""
    publication, _ = Publication.objects.get_or_create(
        djen_id=djen_id,
        defaults={"tribunal": "TJSP", "date": days_ago(1), "text": f"Intimação {djen_id}", "process_number": "1" * 20}
        | fields,
    )
    return PublicationMatch.objects.create(
        person=person, publication=publication, how="name", matched_at=timezone.now() - age
    )


def poll(raw, since=None, **params):
    query = "&".join(f"{k}={v}" for k, v in {"since": since, **params}.items() if v is not None)
    response = send("get", f"{FEED}?{query}", raw)
    assert response.status_code == 200, response.content
    return response.json()


def test_polling_the_feed_never_misses_or_repeats_an_entry(reader, settings):
    settings.VIGIA_API_FEED_SETTLE = 0
    ana, bia = make_person(name="Ana Souza"), make_person(name="Bia Lima")
    first = poll(reader)
    assert first == {"items": [], "next_since": ""}  # nothing yet: start again without since

    kept = [keep(ana if n % 2 else bia, 1000 + n) for n in range(5)]
    kept.append(keep(bia, 1001))  # one publication naming both people: an entry for each
    received, since = [], ""
    for _ in range(3):  # poll, then new publications arrive, then poll again
        while True:
            page = poll(reader, since or None, limit=2)
            received += page["items"]
            if not page["items"]:
                assert page["next_since"] == since  # nothing new: the poller keeps its place
                break
            since = page["next_since"]
        kept += [keep(ana, 2000 + len(kept)), keep(bia, 3000 + len(kept))]
    kept = kept[:-2]  # the last two arrived after the last poll
    assert [item["id"] for item in received] == [match.pk for match in kept]
    assert len({item["id"] for item in received}) == len(received)
    both = [item for item in received if item["djen_id"] == 1001]
    assert {(item["person_id"], item["person_name"]) for item in both} == {(ana.pk, "Ana Souza"), (bia.pk, "Bia Lima")}
    assert len({item["publication_id"] for item in both}) == 1
    assert poll(reader, since)["items"][0]["id"] == kept[-1].pk + 1  # the next poll picks up the rest


def test_a_feed_entry_holds_the_publication_and_the_person(reader, settings):
    settings.VIGIA_API_FEED_SETTLE = 0
    ana = make_person(name="Ana Souza")
    match = keep(ana, 42, organ="1ª Vara Cível", link="https://example.com/42", lawyers=[{"name": "X", "oab": "1"}])
    [item] = poll(reader)["items"]
    assert item["id"] == match.pk and item["publication_id"] == match.publication_id and item["djen_id"] == 42
    assert (item["person_id"], item["person_name"], item["how"]) == (ana.pk, "Ana Souza", "name")
    assert item["tribunal"] == "TJSP" and item["date"] == days_ago(1).isoformat() and item["text"] == "Intimação 42"
    assert item["organ"] == "1ª Vara Cível" and item["link"] == "https://example.com/42"
    assert item["lawyers"] == [{"name": "X", "oab": "1"}] and item["process_number"] == "1" * 20
    assert item["created_at"] == match.matched_at.isoformat()


def test_the_settle_window_holds_back_entries_just_committed_and_everything_after_them(reader, settings):
    settings.VIGIA_API_FEED_SETTLE = 60
    ana = make_person(name="Ana Souza")
    old = keep(ana, 1, age=timedelta(minutes=5))
    fresh = keep(ana, 2, age=timedelta(seconds=1))  # its transaction may have company still committing
    later = keep(ana, 3, age=timedelta(minutes=5))  # a check that started earlier, committed after
    page = poll(reader)
    assert [item["id"] for item in page["items"]] == [old.pk]  # not `later`: it would step over `fresh`
    again = poll(reader, page["next_since"])
    assert again == {"items": [], "next_since": page["next_since"]}

    settings.VIGIA_API_FEED_SETTLE = 0.5  # as if a minute had passed
    assert [item["id"] for item in poll(reader, page["next_since"])["items"]] == [fresh.pk, later.pk]


def test_the_feed_of_one_person(reader, settings):
    settings.VIGIA_API_FEED_SETTLE = 0
    ana, bia = make_person(name="Ana Souza"), make_person(name="Bia Lima")
    mine = [keep(ana, 1), keep(ana, 2)]
    keep(bia, 3)
    mine.append(keep(ana, 3))
    first = poll(reader, person=ana.pk, limit=2)
    rest = poll(reader, first["next_since"], person=ana.pk, limit=2)
    assert [item["id"] for item in first["items"] + rest["items"]] == [match.pk for match in mine]
    assert {item["person_id"] for item in first["items"] + rest["items"]} == {ana.pk}


def test_a_person_created_through_the_api_is_checked_and_their_publications_reach_the_feed(writer, djen, settings):
    settings.VIGIA_API_FEED_SETTLE = 0
    djen.add(recipients=["José da Silva"], day=days_ago(2), tribunal="TJSP")
    djen.add(recipients=["Outra Pessoa"], day=days_ago(2))
    person = create(writer, name="Jose da Silva").json()
    run = Run.objects.get(job_id=person["job_id"])
    assert execute_run(run.pk) == Run.Status.SUCCEEDED
    assert send("get", f"{PEOPLE}/{person['id']}", writer).json()["first_check"] == "done"
    [item] = poll(writer)["items"]
    assert item["person_id"] == person["id"] and item["tribunal"] == "TJSP"


def test_the_openapi_document_describes_every_people_operation():
    document = Client().get("/api/v1/openapi.json").json()
    operations = {
        (path, method): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if path.startswith(("/api/v1/people", "/api/v1/publications"))
    }
    assert {op["operationId"] for op in operations.values()} == {
        "create_person",
        "list_people",
        "get_person",
        "update_person",
        "delete_person",
        "check_person",
        "check_all_people",
        "publication_feed",
    }
    for operation in operations.values():
        assert operation["tags"] == ["people"] and "Scope people:" in operation["description"]
    create_body = operations[("/api/v1/people", "post")]["requestBody"]["content"]["application/json"]["schema"]
    assert create_body["required"] == ["name"] and create_body["additionalProperties"] is False
