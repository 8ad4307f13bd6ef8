"""The people admin: people saved through PersonForm (their jobs and first checks with them), search, filters,
actions that queue checks (never check in the request), read-only publications and events."""

import socket
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from channels_app.events import publish
from scheduler.models import Job, Run
from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people import admin as people_admin
from scrapers.people import djen
from scrapers.people import services as people

PEOPLE = reverse("admin:scrapers_monitoredperson_changelist")
ADD_PERSON = reverse("admin:scrapers_monitoredperson_add")
PUBLICATIONS = reverse("admin:scrapers_publication_changelist")
EVENTS = reverse("admin:channels_app_event_changelist")
CPF = "52998224725"  # valid: 529.982.247-25


@pytest.fixture(autouse=True)
def _local_zone(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"  # the operator's clock in these tests (UTC−3, no DST)


@pytest.fixture
def no_djen(settings, monkeypatch):
    """DJEN at a port nobody listens on, and its client refusing to be called: a check would leave traces."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.VIGIA_DJEN_URL = f"http://127.0.0.1:{port}"

    def refuse(*args, **kwargs):
        raise AssertionError("DJEN was called inside the request")

    monkeypatch.setattr(djen, "search", refuse)


def form_data(**overrides):
    """What the add/change form posts for a valid person (an unticked checkbox is not posted: pass None)."""
    data = {
        "name": "José da Silva",
        "document": "529.982.247-25",
        "oab_number": "",
        "oab_uf": "",
        "tribunals": "tjsp, TRT2",
        "match_in_text": None,
        "active": "on",
        "monitor_until": "",
        "check_interval_minutes": "30",
        "recipients": "+55 (11) 98765-4321",
        "notes": "",
        "_save": "Save",
    }
    return {key: value for key, value in {**data, **overrides}.items() if value is not None}


def make_person(name, **fields):
    """A person written directly (no job, no first check), for the list tests."""
    return MonitoredPerson.objects.create(name=name, **fields)


def make_publication(djen_id, **fields):
    return Publication.objects.create(djen_id=djen_id, **fields)


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client, action, objects):
    return client.post(PEOPLE, {"action": action, "_selected_action": [obj.pk for obj in objects]}, follow=True)


def names(response):
    return sorted(person.name for person in response.context["cl"].result_list)


# --- add and change go through PersonForm: the job and the first check follow ----------------------


def test_a_valid_add_saves_the_person_its_job_and_one_first_check_on_the_high_queue(db, admin_client, no_djen):
    response = admin_client.post(ADD_PERSON, form_data())

    assert response.status_code == 302
    person = MonitoredPerson.objects.get()
    assert (person.name, person.normalized_name, person.document) == ("José da Silva", "jose da silva", CPF)
    assert (person.tribunals, person.recipients) == ("TJSP,TRT2", ["5511987654321"])
    job = Job.objects.get()
    assert person.job_id == job.pk
    assert (job.kind, job.params, job.schedule_type, job.enabled) == (
        "check_person",
        {"person_id": person.pk},
        "manual",
        True,
    )
    run = Run.objects.get()
    assert (run.job_id, run.status, run.trigger) == (job.pk, "queued", "manual")
    task = OrmQ.objects.get()
    assert task.key == "high" and task.task["args"] == (run.pk,)
    assert person.last_checked_at is None  # queued, not checked in the request


def test_an_inactive_person_is_saved_without_a_first_check(db, admin_client):
    admin_client.post(ADD_PERSON, form_data(active=None))

    assert not Job.objects.get().enabled
    assert not Run.objects.exists() and not OrmQ.objects.exists()


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"document": "529.982.247-26"}, "document", "Invalid CPF"),
        ({"document": "123"}, "document", "A CPF has 11 digits and a CNPJ 14 characters"),
        ({"oab_number": "123456"}, "oab_uf", "Give the OAB's state"),
        ({"oab_number": "123456", "oab_uf": "XX"}, "oab_uf", "'XX' is not a Brazilian state"),
        ({"tribunals": "TJSP, TJXX"}, "tribunals", "Unknown tribunal acronym(s): TJXX"),
        ({"recipients": "5511987654321, not-a-phone"}, "recipients", "'not-a-phone' is not a phone number"),
        ({"name": "J."}, "name", "at least three letters"),
        ({"monitor_until": "01/01/2000"}, "monitor_until", "This day has passed."),
    ],
)
def test_an_invalid_add_shows_the_field_error_and_writes_nothing(db, admin_client, overrides, field, message):
    response = admin_client.post(ADD_PERSON, form_data(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in error for error in errors[field]), errors
    assert not MonitoredPerson.objects.exists()
    assert not Job.objects.exists() and not Run.objects.exists() and not OrmQ.objects.exists()


def test_adding_someone_already_monitored_is_refused(db, admin_client):
    existing = make_person("JOSE DA SILVA", document=CPF)

    response = admin_client.post(ADD_PERSON, form_data(name="josé  da silva"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["name"] == [f"Already monitored: JOSE DA SILVA (#{existing.pk})."]
    assert list(MonitoredPerson.objects.all()) == [existing]
    assert not Job.objects.exists() and not Run.objects.exists() and not OrmQ.objects.exists()


def test_editing_keeps_the_job_in_step_without_queuing_a_check(db, admin_client):
    admin_client.post(ADD_PERSON, form_data())
    person = MonitoredPerson.objects.get()
    change = reverse("admin:scrapers_monitoredperson_change", args=[person.pk])

    response = admin_client.post(change, form_data(name="José da Silva Santos", active=None))

    assert response.status_code == 302
    person.refresh_from_db()
    job = Job.objects.get()
    assert person.normalized_name == "jose da silva santos" and not person.active
    assert job.name.endswith("José da Silva Santos") and not job.enabled
    assert Run.objects.count() == 1 == OrmQ.objects.count()  # only the first check


def test_the_change_page_shows_health_read_only_and_links_the_job_and_publications(db, admin_client):
    assert "Health" not in admin_client.get(ADD_PERSON).content.decode()
    admin_client.post(ADD_PERSON, form_data())
    person = MonitoredPerson.objects.get()
    MonitoredPerson.objects.filter(pk=person.pk).update(first_check="failed", last_error="DJEN <b>503</b>")
    publication = make_publication(1, tribunal="TJSP")
    PublicationMatch.objects.create(person=person, publication=publication, how="name")

    page = admin_client.get(reverse("admin:scrapers_monitoredperson_change", args=[person.pk])).content.decode()

    assert "Health" in page and "Failed" in page and "DJEN &lt;b&gt;503&lt;/b&gt;" in page
    assert 'name="last_error"' not in page and 'name="first_check"' not in page
    assert reverse("admin:scheduler_job_change", args=[person.job_id]) in page
    assert f"{PUBLICATIONS}?person={person.pk}" in page and "1 publication<" in page


# --- the person list: columns, search, filters ----------------------------------------------------


def test_the_list_shows_documents_oab_and_counts_in_bounded_queries(db, admin_client, django_assert_max_num_queries):
    lawyer = make_person("Ana Advogada", document="11222333000181", oab_number="123456", oab_uf="SP")
    for n in range(30):
        make_person(f"Pessoa {n:02}")
    for djen_id in range(3):
        PublicationMatch.objects.create(person=lawyer, publication=make_publication(djen_id), how="oab")

    with django_assert_max_num_queries(9):  # session, user, counts, the page, the tribunal choices
        response = admin_client.get(PEOPLE)

    page = response.content.decode()
    assert "11.222.333/0001-81" in page and "123456/SP" in page
    counts = {person.name: person.publication_count for person in response.context["cl"].result_list}
    assert counts["Ana Advogada"] == 3 and counts["Pessoa 00"] == 0 and len(counts) == 31


def test_search_ignores_accents_case_and_document_punctuation(db, admin_client):
    make_person("JOSE DA SILVA", document=CPF)
    make_person("José Souza")
    make_person("Maria Joséfa")
    make_person("Escritório Ltda", document="11222333000181", oab_number="98765", oab_uf="RJ")

    assert names(admin_client.get(PEOPLE, {"q": "José"})) == ["JOSE DA SILVA", "José Souza", "Maria Joséfa"]
    assert names(admin_client.get(PEOPLE, {"q": "jose silva"})) == ["JOSE DA SILVA"]
    assert names(admin_client.get(PEOPLE, {"q": '"jose da"'})) == ["JOSE DA SILVA"]
    assert names(admin_client.get(PEOPLE, {"q": "529.982.247-25"})) == ["JOSE DA SILVA"]
    assert names(admin_client.get(PEOPLE, {"q": CPF})) == ["JOSE DA SILVA"]
    assert names(admin_client.get(PEOPLE, {"q": "11.222.333/0001-81"})) == ["Escritório Ltda"]
    assert names(admin_client.get(PEOPLE, {"q": "escritorio"})) == ["Escritório Ltda"]
    assert names(admin_client.get(PEOPLE, {"q": "098765"})) == ["Escritório Ltda"]  # OAB, leading zero
    assert names(admin_client.get(PEOPLE, {"q": "ninguém"})) == []


def test_search_finds_an_alphanumeric_cnpj_and_a_cpf_typed_in_other_digits(db, admin_client):
    make_person("Empresa Nova Ltda", document="12ABC34501DE35")
    make_person("JOSE DA SILVA", document="52998224725")

    assert names(admin_client.get(PEOPLE, {"q": "12.abc.345/01de-35"})) == ["Empresa Nova Ltda"]
    assert names(admin_client.get(PEOPLE, {"q": "abc.345"})) == ["Empresa Nova Ltda"]
    assert names(admin_client.get(PEOPLE, {"q": "٥٢٩.٩٨٢"})) == ["JOSE DA SILVA"]  # Arabic-Indic digits


def test_the_tribunal_filter_matches_whole_acronyms(db, admin_client, settings):
    settings.VIGIA_EXTRA_TRIBUNALS = ["TJSPX"]
    make_person("Only Sp", tribunals="TJSP")
    make_person("First Of Two", tribunals="TJSP,TRT2")
    make_person("Last Of Three", tribunals="TRF3,TRE-SP,TJSP")
    make_person("Middle One", tribunals="TRT2,TJSP,TRF3")
    make_person("Lookalike", tribunals="TJSPX")
    make_person("Electoral", tribunals="TRE-SP")
    make_person("Everywhere", tribunals="")

    response = admin_client.get(PEOPLE, {"tribunal": "TJSP"})

    assert names(response) == ["First Of Two", "Last Of Three", "Middle One", "Only Sp"]
    choices = [choice["display"] for choice in response.context["cl"].filter_specs[2].choices(response.context["cl"])]
    assert choices == ["All", "Every tribunal (none chosen)", "TJSP", "TJSPX", "TRE-SP", "TRF3", "TRT2"]
    assert names(admin_client.get(PEOPLE, {"tribunal": "TJSPX"})) == ["Lookalike"]
    assert names(admin_client.get(PEOPLE, {"tribunal": "TRE-SP"})) == ["Electoral", "Last Of Three"]
    assert names(admin_client.get(PEOPLE, {"tribunal": "TRT2"})) == ["First Of Two", "Middle One"]
    assert names(admin_client.get(PEOPLE, {"tribunal": "*"})) == ["Everywhere"]


def test_the_expiry_filter(db, admin_client):
    today = timezone.localdate()
    make_person("Expired", monitor_until=today - timedelta(days=1))
    make_person("Today", monitor_until=today)
    make_person("In Twenty", monitor_until=today + timedelta(days=20))
    make_person("In Sixty", monitor_until=today + timedelta(days=60))
    make_person("Forever")

    assert names(admin_client.get(PEOPLE, {"expiry": "expired"})) == ["Expired"]
    assert names(admin_client.get(PEOPLE, {"expiry": "7"})) == ["Today"]
    assert names(admin_client.get(PEOPLE, {"expiry": "30"})) == ["In Twenty", "Today"]
    assert names(admin_client.get(PEOPLE, {"expiry": "never"})) == ["Forever"]


def test_the_first_check_and_active_filters(db, admin_client):
    make_person("Pending One")
    make_person("Failed One", first_check="failed", active=False)

    assert names(admin_client.get(PEOPLE, {"first_check__exact": "failed"})) == ["Failed One"]
    assert names(admin_client.get(PEOPLE, {"active__exact": "1"})) == ["Pending One"]


# --- actions: queue, never check in the request ---------------------------------------------------


def test_check_now_queues_active_people_on_the_high_queue_without_calling_djen(db, admin_client, no_djen):
    with_job = people.save_person(MonitoredPerson(name="Com Job"))
    Run.objects.all().delete()
    OrmQ.objects.all().delete()  # forget the first check
    without_job = make_person("Sem Job")
    inactive = make_person("Inativa", active=False)

    response = act(admin_client, "check_now", [with_job, without_job, inactive])

    assert "Queued a check of 2 people. Skipped 1 inactive." in messages_of(response)
    without_job.refresh_from_db()
    assert without_job.job.kind == "check_person"  # created on the way
    queued = Run.objects.filter(status="queued")
    assert sorted(queued.values_list("job_id", flat=True)) == sorted([with_job.job_id, without_job.job_id])
    assert list(OrmQ.objects.values_list("key", flat=True)) == ["high", "high"]
    for person in MonitoredPerson.objects.all():
        assert person.last_checked_at is None and person.last_error == ""


def test_check_now_keeps_a_waiting_check_and_refuses_a_selection_too_large(db, admin_client, no_djen, monkeypatch):
    waiting = people.save_person(MonitoredPerson(name="Já Na Fila"))  # its first check is still queued
    fresh = make_person("Nova")
    response = act(admin_client, "check_now", [waiting, fresh])
    assert "Queued a check of 1 person. 1 already had a check waiting." in messages_of(response)
    assert Run.objects.filter(job=waiting.job, status="queued").count() == 1

    monkeypatch.setattr(people_admin, "CHECK_SELECTED_MAX", 1)
    response = act(admin_client, "check_now", [waiting, fresh])
    assert "Select at most 1 people, or use “Check all people now” on the People page." in messages_of(response)
    fresh.refresh_from_db()
    assert Run.objects.filter(job=fresh.job).count() == 1  # nothing more queued


def test_deactivate_pauses_the_people_and_their_jobs(db, admin_client):
    chosen = people.save_person(MonitoredPerson(name="Chosen Person"))
    other = people.save_person(MonitoredPerson(name="Other Person"))

    response = act(admin_client, "deactivate", [chosen])

    assert "Deactivated 1 person." in messages_of(response)
    states = dict(MonitoredPerson.objects.values_list("name", "active"))
    assert states == {"Chosen Person": False, "Other Person": True}
    assert dict(Job.objects.values_list("pk", "enabled")) == {chosen.job_id: False, other.job_id: True}


# --- publications and events: read-only, searchable, escaped -------------------------------------


def test_publications_are_searchable_by_process_number_with_or_without_mask_and_text(db, admin_client):
    make_publication(1, process_number="00012345620248260100", text="Intimação da parte autora")
    make_publication(2, process_number="00099998820238190001", process_number_masked="0009999-88.2023.8.19.0001")

    def found(term):
        return sorted(row.djen_id for row in admin_client.get(PUBLICATIONS, {"q": term}).context["cl"].result_list)

    assert found("0001234-56.2024.8.26.0100") == [1]  # masked search, plain storage
    assert found("00012345620248260100") == [1]
    assert found("0009999-88.2023.8.19.0001") == [2]
    assert found("00099998820238190001") == [2]
    assert found("intimação autora") == [1]
    assert found("0001234-56.2024.8.26.0101") == []


def test_the_person_filter_lists_that_persons_publications(db, admin_client):
    ana, bia = make_person("Ana Parte"), make_person("Bia Parte")
    shared, own = make_publication(1, tribunal="TJSP"), make_publication(2, tribunal="TRT2")
    PublicationMatch.objects.create(person=ana, publication=shared, how="name")
    PublicationMatch.objects.create(person=bia, publication=shared, how="oab")
    PublicationMatch.objects.create(person=ana, publication=own, how="text")

    response = admin_client.get(PUBLICATIONS, {"person": ana.pk})

    rows = {row.djen_id: row.people_count for row in response.context["cl"].result_list}
    assert rows == {1: 2, 2: 1}
    assert "Ana Parte" in response.content.decode()  # the chosen person, shown in the sidebar
    assert [row.djen_id for row in admin_client.get(PUBLICATIONS, {"person": bia.pk}).context["cl"].result_list] == [1]
    assert not admin_client.get(PUBLICATIONS, {"person": bia.pk + ana.pk}).context["cl"].result_list  # unknown
    assert admin_client.get(PUBLICATIONS, {"person": "x"}).status_code == 302  # the admin's "?e=1"


def test_publications_are_read_only_and_scraped_text_is_escaped(db, admin_client):
    publication = make_publication(
        1,
        tribunal="TJSP",
        organ="<script>alert('organ')</script> Vara",
        communication_type="<img src=x onerror=alert(1)>",
        text="<script>alert('text')</script>",
    )
    PublicationMatch.objects.create(person=make_person("Ana Parte"), publication=publication, how="name")

    listing = admin_client.get(PUBLICATIONS).content.decode()
    detail = admin_client.get(reverse("admin:scrapers_publication_change", args=[publication.pk])).content.decode()

    for page in (listing, detail):
        assert "<script>alert(" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(" in listing and "&lt;script&gt;alert(&#x27;text&#x27;)" in detail
    assert 'name="_save"' not in detail and "Ana Parte" in detail
    assert admin_client.get(reverse("admin:scrapers_publication_add")).status_code == 403


def test_events_are_listed_read_only(db, admin_client):
    publish("person:1", {"type": "publication.new"}, key="k-1")
    publish("people:expired", {"type": "people.expired"})

    response = admin_client.get(EVENTS, {"type__exact": "publication.new"})

    assert [event.key for event in response.context["cl"].result_list] == ["k-1"]
    found = admin_client.get(EVENTS, {"q": "expired"}).context["cl"].result_list
    assert [event.type for event in found] == ["people.expired"]
    assert admin_client.get(reverse("admin:channels_app_event_add")).status_code == 403


@pytest.mark.parametrize("url", [PEOPLE, ADD_PERSON, PUBLICATIONS, EVENTS])
def test_anonymous_users_are_sent_to_log_in(db, client, url):
    response = client.get(url)

    assert response.status_code == 302 and reverse("login") in response["Location"]  # the one login page
