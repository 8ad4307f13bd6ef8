"""Monitored people end to end against a loopback DJEN on the real database: the window each check asks for,
what is kept for whom, each publication stored and announced once, failures, and the people cycle (fan-out,
force sync, expiry, the periodic jobs)."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_q.models import OrmQ

from channels_app.models import Event
from scheduler import services
from scheduler.errors import JobError, PermanentError, TransientError
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scheduler.progress import RunProgress
from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people import djen as client
from scrapers.people import publications
from scrapers.people import services as people
from scrapers.people.brazil import normalize_name
from scrapers.people.services import sync_job
from scrapers.sources import fetch as fetching
from tests.scrapers.people_support import court_today, days_ago, djen_fixture, make_person  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(fetching, "BACKOFF_BASE", 0.01)


def check(person):
    person.refresh_from_db()
    return publications.check_person(person)


def announced(person=None):
    events = Event.objects.filter(type="publication.new").order_by("pk")
    if person is not None:
        events = events.filter(topic=f"person:{person.pk}")
    return [event.payload for event in events]


def kept(person):
    """{djen_id: how} of what is stored for the person."""
    matches = PublicationMatch.objects.filter(person=person).select_related("publication")
    return {match.publication.djen_id: match.how for match in matches}


# --- the window -----------------------------------------------------------------------------------


def test_a_first_check_looks_back_the_configured_days(djen, settings):
    settings.VIGIA_DJEN_FIRST_DAYS = 10
    oldest = djen.add(recipients=["José da Silva"], day=days_ago(10))
    today = djen.add(recipients=["José da Silva"], day=days_ago(0))
    djen.add(recipients=["José da Silva"], day=days_ago(11))
    person = make_person()

    outcome = check(person)

    [query] = djen.queries()
    assert query["dataDisponibilizacaoInicio"] == days_ago(10).isoformat()
    assert query["dataDisponibilizacaoFim"] == court_today().isoformat()
    assert kept(person) == {oldest["id"]: "name", today["id"]: "name"}
    assert len(outcome.new) == 2 and len(announced(person)) == 2
    person.refresh_from_db()
    assert person.first_check == MonitoredPerson.FirstCheck.DONE
    assert person.last_success_at and person.last_checked_at and person.last_error == ""


def test_a_window_holding_more_than_djen_serves_is_split_until_nothing_is_lost(djen, settings):
    settings.VIGIA_DJEN_MAX_RESULTS = 200  # DJEN serves 10,000 per query; a common name can exceed that
    added = [djen.add(recipients=["José da Silva"], day=days_ago(i % 8)) for i in range(420)]
    person = make_person()

    outcome = check(person)

    assert set(kept(person)) == {item["id"] for item in added}
    assert not outcome.truncated and len(outcome.new) == 420
    windows = {(q["dataDisponibilizacaoInicio"], q["dataDisponibilizacaoFim"]) for q in djen.queries()}
    assert len(windows) > 1  # it asked again per smaller window


def test_later_checks_start_the_day_before_the_last_successful_one(djen):
    person = make_person()
    last = timezone.now() - timedelta(days=5)
    MonitoredPerson.objects.filter(pk=person.pk).update(
        last_success_at=last, first_check=MonitoredPerson.FirstCheck.DONE
    )
    late_that_day = djen.add(recipients=["José da Silva"], day=days_ago(6))
    djen.add(recipients=["José da Silva"], day=days_ago(7))  # seen by the check before that one

    check(person)

    [query] = djen.queries()
    assert query["dataDisponibilizacaoInicio"] == days_ago(6).isoformat()
    assert query["dataDisponibilizacaoFim"] == court_today().isoformat()
    assert kept(person) == {late_that_day["id"]: "name"}
    person.refresh_from_db()
    assert person.last_success_at > last
    assert publications.window(person)[0] == days_ago(1)  # and the next check starts from this one


# --- matching -------------------------------------------------------------------------------------


@pytest.fixture
def namesakes(djen):
    """What DJEN's loose search for 'Jose da Silva' returns: three that name him, three that do not."""
    day = days_ago(1)
    return {
        "plain": djen.add(recipients=["JOSÉ DA SILVA"], day=day),
        "cpf": djen.add(recipients=["JOSÉ DA SILVA - CPF: 123.456.789-09"], day=day),
        "role": djen.add(recipients=["José da Silva (representante)"], day=day),
        "longer": djen.add(recipients=["José da Silva Santos"], text="Intimação das partes.", day=day),
        "in_text": djen.add(recipients=["Maria Souza"], text="Audiência com José da Silva e outros.", day=day),
        "scattered": djen.add(recipients=["Ana Lima"], text="Testemunhas: Silva, José da Costa.", day=day),
    }


def test_a_name_matches_whatever_the_accents_case_and_decorations(djen, namesakes):
    person = make_person(name="Jose da Silva")
    outcome = check(person)
    assert djen.queries()[0]["nomeParte"] == "Jose da Silva"
    assert outcome.returned == 6
    assert kept(person) == {namesakes[key]["id"]: "name" for key in ("plain", "cpf", "role")}
    assert Publication.objects.count() == 3  # the search's false alarms are not stored at all
    assert len(announced(person)) == 3


def test_match_in_text_also_keeps_publications_naming_the_person_in_their_text(djen, namesakes):
    person = make_person(name="Jose da Silva", match_in_text=True)
    check(person)
    assert kept(person) == {
        **{namesakes[key]["id"]: "name" for key in ("plain", "cpf", "role")},
        namesakes["in_text"]["id"]: "text",  # the words in order; "Silva, José da Costa" is not him
    }


def test_a_lawyer_is_also_searched_by_oab(djen):
    day = days_ago(1)
    for_a_client = djen.add(recipients=["Cliente Um"], lawyers=[("MARIA A. SOUZA", "0123456", "SP")], day=day)
    as_party = djen.add(
        recipients=["Maria Aparecida Souza"], lawyers=[("Maria Aparecida Souza", "123456", "SP")], day=day
    )
    djen.add(recipients=["Cliente Dois"], lawyers=[("Outra Pessoa", "123456", "RJ")], day=day)  # another state
    person = make_person(name="Maria Aparecida Souza", oab_number="123.456", oab_uf="sp")

    check(person)

    by_name, by_oab = djen.queries()
    assert by_name["nomeParte"] == "Maria Aparecida Souza" and "numeroOab" not in by_name
    assert (by_oab["numeroOab"], by_oab["ufOab"]) == ("123456", "SP") and "nomeParte" not in by_oab
    assert kept(person) == {for_a_client["id"]: "oab", as_party["id"]: "name"}
    assert Publication.objects.count() == 2  # the one both searches found is stored once
    assert len(announced(person)) == 2  # and announced once


def test_one_tribunal_is_filtered_by_djen(djen):
    day = days_ago(1)
    in_tjsp = djen.add(recipients=["José da Silva"], tribunal="TJSP", day=day)
    djen.add(recipients=["José da Silva"], tribunal="TRT2", day=day)
    person = make_person(tribunals="tjsp")
    outcome = check(person)
    assert [query.get("siglaTribunal") for query in djen.queries()] == ["TJSP"]
    assert outcome.returned == 1 and kept(person) == {in_tjsp["id"]: "name"}


def test_several_tribunals_are_filtered_here(djen):
    day = days_ago(1)
    in_tjsp = djen.add(recipients=["José da Silva"], tribunal="TJSP", day=day)
    in_trt2 = djen.add(recipients=["José da Silva"], tribunal="TRT2", day=day)
    djen.add(recipients=["José da Silva"], tribunal="TJRJ", day=day)
    person = make_person(tribunals="TJSP, TRT2", oab_number="123456", oab_uf="SP")
    outcome = check(person)
    assert [query.get("siglaTribunal") for query in djen.queries()] == [None, None]  # one query each way
    assert outcome.returned == 3
    assert kept(person) == {in_tjsp["id"]: "name", in_trt2["id"]: "name"}


# --- storing and announcing once ------------------------------------------------------------------


def test_a_publication_naming_two_people_is_stored_once_and_announced_to_each(djen):
    shared = djen.add(recipients=["José da Silva", "Maria Souza"], day=days_ago(1))
    jose, maria = make_person(name="José da Silva"), make_person(name="Maria Souza")

    check(jose)
    check(maria)

    publication = Publication.objects.get()
    assert publication.djen_id == shared["id"]
    assert set(publication.people.all()) == {jose, maria}
    assert [event["publication"] for event in announced(jose)] == [publication.pk]
    assert [event["publication"] for event in announced(maria)] == [publication.pk]
    assert announced(jose)[0]["person_name"] == "José da Silva"
    assert announced(maria)[0]["person_name"] == "Maria Souza"


def test_a_second_check_stores_and_announces_nothing_new(djen):
    djen.add(recipients=["José da Silva"], day=days_ago(1))
    djen.add(recipients=["José da Silva"], day=days_ago(0))
    person = make_person()
    first = check(person)
    assert len(first.new) == 2

    second = check(person)

    assert second.new == [] and sorted(second.matched) == sorted(first.matched)
    assert Publication.objects.count() == 2 and PublicationMatch.objects.count() == 2
    assert len(announced()) == 2


def test_a_repeated_store_announces_nothing_twice(djen):
    items = [djen.add(recipients=["José da Silva"], day=days_ago(n)) for n in (1, 2)]
    person = make_person()
    check(person)
    assert len(announced()) == 2
    found = {fields["djen_id"]: (fields, "name") for fields in map(client.parse_item, items)}

    # A redelivered run stores the same finds again...
    publications.store(person, found, publications.Outcome(), timezone.now())
    # ...or one that did not see the first run's matches (they were removed, or it raced the first run).
    PublicationMatch.objects.filter(person=person).delete()
    publications.store(person, found, publications.Outcome(), timezone.now())

    assert PublicationMatch.objects.filter(person=person).count() == 2
    assert Publication.objects.count() == 2
    assert len(announced()) == 2
    assert Event.objects.filter(key__startswith="publication.new:").count() == 2


def test_the_announcement_has_what_a_message_needs(djen):
    item = djen.add(
        recipients=["José da Silva"],
        tribunal="TRT2",
        day=days_ago(2),
        process="00012345620265020001",
        text="<p>Fica <b>intimado</b> JOSÉ DA SILVA.</p><p>Prazo: 8 dias.</p>",
    )
    person = make_person()
    check(person)
    [event] = Event.objects.filter(type="publication.new")
    assert event.topic == f"person:{person.pk}"
    payload = event.payload
    assert payload["type"] == "publication.new"
    assert payload["person"] == person.pk and payload["person_name"] == "José da Silva"
    assert payload["publication"] == Publication.objects.get(djen_id=item["id"]).pk
    assert payload["djen_id"] == item["id"]
    assert payload["tribunal"] == "TRT2"
    assert payload["process"] == "0001234-56.2026.5.02.0001"
    assert payload["date"] == days_ago(2).isoformat()
    assert payload["link"] == item["link"]
    assert payload["text"] == "Fica intimado JOSÉ DA SILVA.\nPrazo: 8 dias."
    assert payload["type_label"] == "Intimação" and payload["organ"] == "1ª Vara Cível"
    assert payload["matched_by"] == "name"


def test_announcements_come_oldest_first_and_carry_a_bounded_text(djen):
    newer = djen.add(recipients=["José da Silva"], day=days_ago(1), text="José da Silva " * 500)
    older = djen.add(recipients=["José da Silva"], day=days_ago(3))
    check(make_person())
    events = announced()
    assert [event["djen_id"] for event in events] == [older["id"], newer["id"]]
    assert len(events[1]["text"]) == 2000


# --- failures -------------------------------------------------------------------------------------


@pytest.fixture
def five_pages_of_two(djen, settings):
    settings.VIGIA_DJEN_PAGE_SIZE = 2
    return [djen.add(recipients=["José da Silva"], day=days_ago(n)) for n in range(5)]  # 3 pages, newest first


def test_a_page_that_keeps_failing_stores_nothing_and_records_the_error(djen, monkeypatch, five_pages_of_two):
    respond = djen._respond

    def page_two_fails(path, query, arrived):
        if query.get("pagina") == "2":
            return 500, {"status": "error", "message": "Internal Server Error"}, {}
        return respond(path, query, arrived)

    monkeypatch.setattr(djen, "_respond", page_two_fails)
    person = make_person()
    last = timezone.now() - timedelta(days=8)
    MonitoredPerson.objects.filter(pk=person.pk).update(
        last_success_at=last, first_check=MonitoredPerson.FirstCheck.DONE
    )

    with pytest.raises(TransientError):
        check(person)

    assert [query["pagina"] for query in djen.queries()] == ["1", "2", "2", "2"]
    assert Publication.objects.count() == 0 and PublicationMatch.objects.count() == 0  # not even page 1's
    assert announced() == []
    person.refresh_from_db()
    assert "HTTP 500" in person.last_error
    assert person.last_success_at == last  # the next check covers the same days again
    assert publications.window(person)[0] == days_ago(9)


def test_an_item_without_an_id_fails_the_check_before_anything_is_stored(djen, five_pages_of_two):
    broken = five_pages_of_two[3]  # on page 2
    broken["id"] = None
    person = make_person()

    with pytest.raises(JobError, match="without an id"):
        check(person)

    assert len(djen.requests) == 3
    assert Publication.objects.count() == 0 and announced() == []
    person.refresh_from_db()
    assert person.last_error == "DJEN returned an item without an id."
    assert person.last_success_at is None and person.first_check == MonitoredPerson.FirstCheck.PENDING


def test_a_refused_first_check_is_marked_failed(djen):
    djen.fail_next(422)
    person = make_person()
    with pytest.raises(PermanentError):
        check(person)
    person.refresh_from_db()
    assert person.first_check == MonitoredPerson.FirstCheck.FAILED
    assert "HTTP 422" in person.last_error


def test_a_success_after_a_failure_clears_the_error(djen):
    djen.add(recipients=["José da Silva"], day=days_ago(1))
    djen.fail_next(500, count=3)
    person = make_person()
    with pytest.raises(TransientError):
        check(person)
    check(person)
    person.refresh_from_db()
    assert person.last_error == "" and person.first_check == MonitoredPerson.FirstCheck.DONE
    assert len(announced(person)) == 1


# --- through the scheduler ------------------------------------------------------------------------


def test_the_first_check_queued_on_creation_runs_as_a_job(djen):
    djen.add(recipients=["José da Silva"], day=days_ago(1))
    person = make_person()
    run = Run.objects.get(job=person.job)
    assert OrmQ.objects.filter(key=Job.Queue.HIGH).count() == 1  # ahead of the routine checks

    assert execute_run(run.id) == Run.Status.SUCCEEDED

    run.refresh_from_db()
    assert run.result["matched"] == 1 and run.result["new"] == 1
    assert run.result["window"][1] == court_today().isoformat()
    assert len(announced(person)) == 1


def test_a_check_of_a_person_deleted_meanwhile_fails_at_once_saying_so(djen):
    person = make_person()
    run = Run.objects.get(job=person.job)
    job = person.job
    job.params = {"person_id": person.pk + 1000}  # as if the person had gone after the run was queued
    job.save(update_fields=["params"])

    assert execute_run(run.id) == Run.Status.FAILED
    run.refresh_from_db()
    assert f"Monitored person {person.pk + 1000} no longer exists." in run.error
    assert not Run.objects.filter(job=job, status=Run.Status.RETRYING).exists()  # permanent: no retry
    assert not djen.requests


def test_a_long_429_makes_the_retry_wait_at_least_that_long(djen):
    djen.fail_next(429, headers={"Retry-After": "120"})
    person = make_person()
    run = Run.objects.get(job=person.job)
    before = timezone.now()

    assert execute_run(run.id) == Run.Status.FAILED

    retry = Run.objects.get(job=person.job, attempt=2)
    assert (retry.due_at - before).total_seconds() >= 119
    assert len(djen.requests) == 1


# --- the people cycle -----------------------------------------------------------------------------


def settle():
    """As if the cluster had run everything queued so far (the first checks)."""
    Run.objects.filter(status__in=Run.ACTIVE).update(status=Run.Status.SUCCEEDED)
    OrmQ.objects.all().delete()


def queued_jobs(trigger):
    return sorted(Run.objects.filter(trigger=trigger, status=Run.Status.QUEUED).values_list("job_id", flat=True))


def test_fan_out_queues_each_due_person_once(djen):
    now = timezone.now()
    due = make_person(name="Ana Devida")
    last_day = make_person(name="Fábio Último Dia", monitor_until=court_today(), check_interval_minutes=60)
    expired = make_person(name="Bruno Expirado", monitor_until=court_today() + timedelta(days=1))
    inactive = make_person(name="Carla Inativa", active=False)
    later = make_person(name="Davi Depois")
    busy = make_person(name="Eva Ocupada")
    settle()
    services.run_now(busy.job)  # a check of hers is still waiting in the queue
    MonitoredPerson.objects.filter(pk=expired.pk).update(monitor_until=court_today() - timedelta(days=1))
    past = now - timedelta(minutes=1)
    MonitoredPerson.objects.exclude(pk=later.pk).update(next_check_at=past)
    runs, queue = Run.objects.count(), OrmQ.objects.count()

    assert people.fan_out(now) == 2

    assert queued_jobs(Run.Trigger.SCHEDULE) == sorted([due.job_id, last_day.job_id])
    assert Run.objects.count() == runs + 2 and OrmQ.objects.count() == queue + 2
    moved = dict(MonitoredPerson.objects.values_list("pk", "next_check_at"))
    assert moved[due.pk] == now + timedelta(minutes=30)
    assert moved[last_day.pk] == now + timedelta(minutes=60)
    assert moved[busy.pk] == past  # still due: queued once her waiting check has run
    assert moved[expired.pk] == moved[inactive.pk] == past

    assert people.fan_out(now) == 0  # right after: nothing is due any more
    assert Run.objects.count() == runs + 2 and OrmQ.objects.count() == queue + 2

    Run.objects.filter(job=busy.job, trigger=Run.Trigger.MANUAL).update(status=Run.Status.SUCCEEDED)
    assert people.fan_out(now) == 1
    assert busy.job_id in queued_jobs(Run.Trigger.SCHEDULE)


def test_fan_out_leaves_a_person_whose_check_waits_to_retry(djen):
    person = make_person()
    settle()
    Run.objects.create(
        job=person.job,
        scheduled_for=timezone.now(),
        attempt=2,
        trigger=Run.Trigger.RETRY,
        status=Run.Status.RETRYING,
        due_at=timezone.now() + timedelta(minutes=5),
    )
    MonitoredPerson.objects.filter(pk=person.pk).update(next_check_at=timezone.now() - timedelta(minutes=1))
    assert people.fan_out() == 0


def test_fan_out_in_small_batches_claims_everyone(djen, settings):
    settings.VIGIA_PEOPLE_BATCH = 2
    crowd = [make_person(name=f"Pessoa Número {n}") for n in range(5)]
    settle()
    MonitoredPerson.objects.update(next_check_at=timezone.now() - timedelta(minutes=1))
    assert people.fan_out() == 5
    assert queued_jobs(Run.Trigger.SCHEDULE) == sorted(person.job_id for person in crowd)


def test_force_sync_queues_every_active_person_now(djen):
    active = [make_person(name="Ana Ativa"), make_person(name="Bia Ativa", check_interval_minutes=120)]
    make_person(name="Caio Inativo", active=False)
    gone = make_person(name="Dora Expirada", monitor_until=court_today() + timedelta(days=1))
    MonitoredPerson.objects.filter(pk=gone.pk).update(monitor_until=court_today() - timedelta(days=1))
    settle()

    assert people.force_sync() == 2

    assert queued_jobs(Run.Trigger.MANUAL) == sorted(person.job_id for person in active)
    assert OrmQ.objects.count() == 2
    assert people.force_sync() == 0  # pressed twice: the waiting checks are not doubled
    assert OrmQ.objects.count() == 2


def test_force_sync_reports_its_progress_page_by_page(djen, settings):
    settings.VIGIA_PEOPLE_BATCH = 2
    crowd = [make_person(name=f"Pessoa {i}") for i in range(5)]
    settle()
    services.run_now(crowd[0].job)  # one already waiting: kept, not doubled
    heard = []
    assert people.force_sync(progress=lambda done, total, **figures: heard.append((done, total, figures))) == 4
    assert heard == [(2, 5, {"queued": 1}), (4, 5, {"queued": 3}), (5, 5, {"queued": 4})]


def test_a_sync_runs_progress_is_written_on_its_run_at_most_once_a_second(djen):
    job = make_person(name="Ana").job
    run = services.run_now(job)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    report = RunProgress(run.pk, every=60)
    report(1, 10, queued=1)
    report(5, 10, queued=5)  # within the minute: not written
    assert Run.objects.get(pk=run.pk).result == {"done": 1, "total": 10, "queued": 1}
    report(10, 10, queued=9)  # the end is always written
    assert Run.objects.get(pk=run.pk).result == {"done": 10, "total": 10, "queued": 9}
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED, result={"queued": 9})
    report(10, 10, queued=0)  # a run that ended keeps its result
    assert Run.objects.get(pk=run.pk).result == {"queued": 9}


def test_expire_deactivates_past_expiry_people_and_says_so_once(djen):
    today = court_today()
    ana = make_person(name="Ana", monitor_until=today + timedelta(days=1))
    bruno = make_person(name="Bruno", monitor_until=today + timedelta(days=2))
    carla = make_person(name="Carla", monitor_until=today + timedelta(days=10))
    davi = make_person(name="Davi")  # forever
    later = today + timedelta(days=3)

    expired = people.expire(later)

    assert [row["pk"] for row in expired] == [ana.pk, bruno.pk]
    state = {p.pk: (p.active, p.job.enabled) for p in MonitoredPerson.objects.select_related("job")}
    assert state == {ana.pk: (False, False), bruno.pk: (False, False), carla.pk: (True, True), davi.pk: (True, True)}
    [event] = Event.objects.filter(type="people.expired")
    assert event.topic == people.EXPIRED_TOPIC
    assert event.payload == {
        "type": "people.expired",
        "count": 2,
        "people": [
            {"id": ana.pk, "name": "Ana", "until": (today + timedelta(days=1)).isoformat()},
            {"id": bruno.pk, "name": "Bruno", "until": (today + timedelta(days=2)).isoformat()},
        ],
    }

    assert people.expire(later) == []
    assert Event.objects.filter(type="people.expired").count() == 1

    settle()
    MonitoredPerson.objects.update(next_check_at=timezone.now() - timedelta(minutes=1))
    assert people.fan_out() == 2  # Carla and Davi only
    assert queued_jobs(Run.Trigger.SCHEDULE) == sorted([carla.job_id, davi.job_id])


def test_ensure_cycle_jobs_creates_the_periodic_jobs_once():
    created = people.ensure_cycle_jobs()
    assert sorted(job.kind for job in created) == ["check_people", "expire_people", "sync_people"]
    fan = Job.objects.get(external_service="vigia", external_key="check_people")
    assert fan.enabled and fan.next_run_at is not None and fan.interval_seconds == 60
    expire = Job.objects.get(external_service="vigia", external_key="expire_people")
    assert expire.cron == "5 0 * * *" and expire.next_run_at is not None
    sync = Job.objects.get(external_service="vigia", external_key="sync_people")
    assert sync.schedule_type == "manual" and sync.next_run_at is None  # runs only when someone asks

    Job.objects.filter(pk=fan.pk).update(enabled=False)  # an operator paused it
    assert people.ensure_cycle_jobs() == []
    assert Job.objects.filter(external_service="vigia").count() == 3
    assert not Job.objects.get(pk=fan.pk).enabled  # not overwritten


# --- concurrency ----------------------------------------------------------------------------------


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="Needs PostgreSQL: concurrent fan-outs claim with FOR UPDATE SKIP LOCKED (SQLite serializes writers).",
)
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_fan_outs_queue_each_person_exactly_once(settings):
    settings.VIGIA_PEOPLE_BATCH = 20  # many small claims, so the two fan-outs interleave
    past = timezone.now() - timedelta(minutes=1)
    crowd = MonitoredPerson.objects.bulk_create(
        MonitoredPerson(name=f"Pessoa {n:03d}", normalized_name=normalize_name(f"Pessoa {n:03d}"), next_check_at=past)
        for n in range(300)
    )
    for person in crowd:
        sync_job(person)
    barrier, totals, errors = threading.Barrier(2), [], []

    def fan_out():
        try:
            barrier.wait(10)
            totals.append(people.fan_out())
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=fan_out) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == [] and len(totals) == 2
    assert sum(totals) == 300
    per_job = Run.objects.values("job_id").annotate(runs=Count("id"))
    assert sorted(row["job_id"] for row in per_job) == sorted(person.job_id for person in crowd)
    assert {row["runs"] for row in per_job} == {1}
    assert OrmQ.objects.count() == 300


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="Needs PostgreSQL: concurrent writers (SQLite serializes them).",
)
@pytest.mark.django_db(transaction=True)
def test_two_people_stored_at_once_with_the_same_publications_share_them_and_each_hears_of_all(djen):
    """Two checks finding the same new publications at the same moment, listed in opposite orders: each
    stores them without waiting on the other crosswise (a deadlock would fail one check), the publications
    are stored once, and each person is told of every one of them once."""
    jose, maria = make_person(name="José da Silva"), make_person(name="Maria Souza")
    for round_ in range(5):
        items = [
            djen.add(recipients=["José da Silva", "Maria Souza"], day=days_ago(n % 3), text=f"r{round_} n{n}")
            for n in range(150)
        ]
        parsed = [client.parse_item(item) for item in items]
        barrier, errors = threading.Barrier(2), []

        def store(person, fields_in_order, barrier=barrier, errors=errors):
            try:
                found = {fields["djen_id"]: (fields, "name") for fields in fields_in_order}
                barrier.wait(10)
                publications.store(person, found, publications.Outcome(), timezone.now())
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [
            threading.Thread(target=store, args=(jose, parsed)),
            threading.Thread(target=store, args=(maria, parsed[::-1])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []

    assert Publication.objects.count() == 750
    for person in (jose, maria):
        assert PublicationMatch.objects.filter(person=person).count() == 750
        assert len(announced(person)) == 750
        assert len({event["publication"] for event in announced(person)}) == 750
