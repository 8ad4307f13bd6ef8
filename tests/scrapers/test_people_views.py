"""The people pages: list (search, filters, keyset paging), adding a person, the person page and its live
check (run against the loopback DJEN), check now, deactivate, force sync, CSV import and export."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from channels_app.models import Channel
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people import views as views_people
from scrapers.people.brazil import normalize_name
from tests.scrapers.people_support import days_ago, djen_fixture, make_person  # noqa: F401

pytestmark = pytest.mark.django_db
CPF = "529.982.247-25"  # valid check digits
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(f"scrapers:{name}", args=args)


def bulk_people(names, **fields):
    """Many people at once (no jobs, no first checks): what the list pages read."""
    rows = [MonitoredPerson(name=name, normalized_name=normalize_name(name), **fields) for name in names]
    return MonitoredPerson.objects.bulk_create(rows)


def add_publications(person, count):
    publications = Publication.objects.bulk_create(
        [
            Publication(djen_id=9000 + i, tribunal="TJSP", process_number=f"{i:07d}", text=f"text {i}")
            for i in range(count)
        ]
    )
    PublicationMatch.objects.bulk_create(
        [PublicationMatch(person=person, publication=p, how="name") for p in publications]
    )
    return publications


# --- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["people", "person_new", "people_import", "people_export"])
def test_anonymous_visitors_are_sent_to_the_login(client, name):
    response = client.get(url(name))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_anonymous_visitors_cannot_see_a_person(client):
    [person] = bulk_people(["Ana Souza"])
    for name in ["person", "person_status"]:
        response = client.get(url(name, person.pk))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_viewer_may_look_but_not_change(viewer_client, djen):
    person = make_person()
    runs = Run.objects.count()
    assert viewer_client.get(url("people")).status_code == 200
    assert viewer_client.get(url("person", person.pk)).status_code == 200
    assert b"Save and check" not in viewer_client.get(url("person_new")).content
    data = {"name": "Maria Lima", "check_interval_minutes": 30, "active": "on"}
    assert viewer_client.post(url("person_new"), data).status_code == 403
    assert viewer_client.post(url("people_sync")).status_code == 403
    assert viewer_client.post(url("person_check", person.pk)).status_code == 403
    assert viewer_client.post(url("person_deactivate", person.pk)).status_code == 403
    assert viewer_client.post(url("people_import"), {"file": _csv(b"name\nMaria Lima\n")}).status_code == 403
    assert MonitoredPerson.objects.count() == 1 and MonitoredPerson.objects.get().active
    assert Run.objects.count() == runs


def test_changes_are_posts(staff_client):
    [person] = bulk_people(["Ana Souza"])
    assert staff_client.get(url("people_sync")).status_code == 405
    assert staff_client.get(url("person_deactivate", person.pk)).status_code == 405
    assert staff_client.get(url("person_check", person.pk)).status_code == 405


def test_unknown_ids_are_404(staff_client):
    for name in ["person", "person_status"]:
        assert staff_client.get(url(name, 999999)).status_code == 404
    for name in ["person_check", "person_deactivate"]:
        assert staff_client.post(url(name, 999999)).status_code == 404


# --- the list ------------------------------------------------------------------------------------


def test_the_list_shows_people_in_name_order_with_bounded_queries(staff_client, django_assert_max_num_queries):
    bulk_people([f"Pessoa {i:02d}" for i in range(30)], document="52998224725", oab_number="12345", oab_uf="SP")
    with django_assert_max_num_queries(6):
        response = staff_client.get(url("people"))
    assert response.status_code == 200
    text = response.content.decode()
    assert text.index("Pessoa 00") < text.index("Pessoa 01") < text.index("Pessoa 29")
    assert CPF in text and "12345/SP" in text


def test_search_ignores_accents_and_punctuation(staff_client):
    bulk_people(["José da Silva", "Maria Lima"])
    bulk_people(["Carlos Dias"], document="52998224725")
    bulk_people(["Dra. Beatriz"], oab_number="98765", oab_uf="RJ")

    def names(query):
        response = staff_client.get(url("people"), {"q": query})
        return [p.name for p in response.context["page"]]

    assert names("JOSE silva") == ["José da Silva"]
    assert names(CPF) == ["Carlos Dias"]
    assert names("98765") == ["Dra. Beatriz"]
    assert names('"da silva"') == ["José da Silva"]
    assert names("nobody") == []


def test_search_finds_an_alphanumeric_cnpj_however_it_is_typed_and_shows_it_formatted(staff_client):
    bulk_people(["Empresa Nova Ltda"], document="12ABC34501DE35")
    bulk_people(["Carlos Dias"], document="52998224725")

    def names(query):
        response = staff_client.get(url("people"), {"q": query})
        return [p.name for p in response.context["page"]]

    assert names("12.abc.345/01de-35") == ["Empresa Nova Ltda"]
    assert names("12ABC345") == ["Empresa Nova Ltda"]
    assert names("５２９９８２") == ["Carlos Dias"]  # full-width digits
    assert "12.ABC.345/01DE-35" in staff_client.get(url("people")).content.decode()


def test_filters_active_expiring_and_tribunal(staff_client):
    today = timezone.localdate()
    bulk_people(["Ana Ativa"], tribunals="TJSP,TRT2")
    bulk_people(["Bia Inativa"], active=False)
    bulk_people(["Caio Expira"], monitor_until=today + timedelta(days=3), tribunals="TJSPX")
    bulk_people(["Davi Depois"], monitor_until=today + timedelta(days=40), tribunals="TRT2")

    def names(**params):
        response = staff_client.get(url("people"), params)
        assert response.status_code == 200
        return sorted(p.name for p in response.context["page"])

    assert names(active="no") == ["Bia Inativa"]
    assert names(active="yes") == ["Ana Ativa", "Caio Expira", "Davi Depois"]
    assert names(expiring="7") == ["Caio Expira"]
    assert names(tribunal="TRT2") == ["Ana Ativa", "Davi Depois"]
    assert names(tribunal="TJSP") == ["Ana Ativa"]  # whole acronyms: not TJSPX
    assert names(tribunal="*") == ["Bia Inativa"]
    assert len(names(active="maybe", expiring="soon")) == 4  # bad filters are ignored


def test_keyset_paging_by_name(staff_client, monkeypatch):
    monkeypatch.setattr(views_people, "PAGE_SIZE", 10)
    bulk_people([f"Pessoa {i:02d}" for i in range(25)])
    [twin] = bulk_people(["PESSOA 05"], document="52998224725")  # a name tie, told apart by id
    seen, params = [], {"q": "pessoa"}
    for _ in range(5):
        response = staff_client.get(url("people"), params)
        page = response.context["page"]
        seen += [(p.name, p.pk) for p in page]
        if not page.next_after:
            break
        assert f"after={page.next_after}" in response.content.decode()
        params = {"q": "pessoa", "after": page.next_after}
    assert len(seen) == 26 and len(set(seen)) == 26
    assert [name for name, _ in seen[:7]] == [f"Pessoa 0{i}" for i in range(6)] + ["PESSOA 05"]
    assert seen[6][1] == twin.pk
    # A cursor that is not a number, or names a deleted person, is the first page.
    assert staff_client.get(url("people"), {"after": "x"}).context["page"].rows[0].name == "Pessoa 00"
    assert staff_client.get(url("people"), {"after": "999999"}).context["page"].rows[0].name == "Pessoa 00"


def test_htmx_search_answers_only_the_results(staff_client):
    bulk_people(["Ana Souza"])
    response = staff_client.get(url("people"), {"q": "ana"}, **HTMX)
    text = response.content.decode()
    assert 'id="people-results"' in text and "Ana Souza" in text and "<html" not in text


def test_names_are_escaped(staff_client):
    bulk_people(["<script>alert(1)</script> Souza"])
    text = staff_client.get(url("people")).content.decode()
    assert "<script>alert(1)" not in text and "&lt;script&gt;" in text


# --- adding a person -----------------------------------------------------------------------------


def test_the_new_person_form(staff_client):
    response = staff_client.get(url("person_new"))
    assert response.status_code == 200
    assert 'hx-post="/people/new/"' in response.content.decode()


def test_a_bad_cpf_is_shown_inline_and_nothing_is_saved(staff_client, djen):
    data = {"name": "Maria Lima", "document": "123.456.789-00", "check_interval_minutes": 30, "active": "on"}
    response = staff_client.post(url("person_new"), data, **HTMX)
    text = response.content.decode()
    assert response.status_code == 200
    assert "Invalid CPF" in text and 'id="id_document_error"' in text
    assert 'value="Maria Lima"' in text and 'value="123.456.789-00"' in text  # what was typed is kept
    assert "<html" not in text  # only the form, swapped in place
    assert not MonitoredPerson.objects.exists() and not Job.objects.exists() and not Run.objects.exists()


def test_several_field_errors_without_htmx(staff_client):
    data = {"name": "X", "oab_number": "123", "tribunals": "NOPE", "check_interval_minutes": 1, "recipients": "abc"}
    response = staff_client.post(url("person_new"), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"name", "oab_uf", "tribunals", "check_interval_minutes", "recipients"} <= set(errors)
    assert "<html" in response.content.decode()
    assert not MonitoredPerson.objects.exists()


def test_saving_queues_the_first_check_and_goes_to_the_person(staff_client, djen):
    data = {"name": "Maria Lima", "document": CPF, "check_interval_minutes": 30, "active": "on"}
    response = staff_client.post(url("person_new"), data, **HTMX)
    person = MonitoredPerson.objects.get()
    assert response.status_code == 200 and response["HX-Redirect"] == url("person", person.pk)
    assert person.document == "52998224725"
    assert Run.objects.get(job=person.job).status == Run.Status.QUEUED
    assert OrmQ.objects.filter(key=Job.Queue.HIGH).count() == 1  # first checks go ahead of the routine

    response = staff_client.post(url("person_new"), {**data, "name": "Outra Pessoa", "document": ""})
    assert response.status_code == 302 and response["Location"] == url(
        "person", MonitoredPerson.objects.latest("pk").pk
    )


def test_a_duplicate_person_is_refused_inline(staff_client, djen):
    make_person(name="Maria Lima")
    response = staff_client.post(url("person_new"), {"name": "MARIA LIMA", "check_interval_minutes": 30}, **HTMX)
    assert "Already monitored" in response.content.decode()
    assert MonitoredPerson.objects.count() == 1


# --- the person page and its live check ----------------------------------------------------------


def test_the_person_page_polls_while_the_first_check_is_queued(staff_client, djen, django_assert_max_num_queries):
    Channel.objects.create(name="Zap", kind="wuzapi")
    person = make_person(name="Maria Lima", document=CPF, recipients="5511987654321", notes="<b>vip</b>")
    add_publications(person, 30)
    with django_assert_max_num_queries(9):  # + its alert state (the alert panel)
        response = staff_client.get(url("person", person.pk))
    text = response.content.decode()
    assert response.status_code == 200
    assert "Maria Lima" in text and CPF in text and "5511987654321" in text
    notify = text.split('id="notify"', 1)[1].split("</section>", 1)[0]  # the import's recipient, notified
    assert "5511987654321</a>" in notify and "· Zap" in notify and "New publication" in notify
    assert "&lt;b&gt;vip&lt;/b&gt;" in text
    assert f'hx-get="{url("person_status", person.pk)}"' in text and 'hx-trigger="every 2s"' in text
    assert 'data-run-status="queued"' in text
    assert text.count(reverse("scrapers:publication", args=[Publication.objects.first().pk])) == 1


def test_the_status_fragment_stops_polling_and_shows_what_was_found(staff_client, djen):
    djen.add(recipients=["Maria Lima"], day=days_ago(1))
    djen.add(recipients=["Maria Lima"], day=days_ago(2))
    person = make_person(name="Maria Lima")
    run = Run.objects.get(job=person.job)

    polling = staff_client.get(url("person_status", person.pk), **HTMX).content.decode()
    assert 'hx-trigger="every 2s"' in polling and "person-publications" not in polling

    assert execute_run(run.id) == Run.Status.SUCCEEDED
    final = staff_client.get(url("person_status", person.pk), **HTMX).content.decode()
    assert 'data-run-status="succeeded"' in final and "hx-trigger" not in final
    assert "Found 2 publications." in final
    assert 'id="person-publications" hx-swap-oob="true"' in final  # the list appears without a reload
    assert final.count("/publications/") >= 2


def test_a_failed_check_shows_its_error(staff_client, djen):
    djen.fail_next(400, count=5)
    person = make_person(name="Maria Lima")
    execute_run(Run.objects.get(job=person.job).pk)
    text = staff_client.get(url("person_status", person.pk), **HTMX).content.decode()
    assert 'data-run-status="failed"' in text or 'data-run-status="retrying"' in text
    assert 'class="error"' in text


def test_check_now_queues_one_check(staff_client, djen):
    person = make_person(name="Maria Lima")
    response = staff_client.post(url("person_check", person.pk), **HTMX)
    assert "already queued" in response.content.decode()  # the first check still waits
    assert Run.objects.filter(job=person.job).count() == 1

    execute_run(Run.objects.get(job=person.job).pk)
    response = staff_client.post(url("person_check", person.pk), **HTMX)
    text = response.content.decode()
    assert "Check queued." in text and 'hx-trigger="every 2s"' in text and "<html" not in text
    assert Run.objects.filter(job=person.job).count() == 2

    response = staff_client.post(url("person_check", person.pk))  # without HTMX: back to the page
    assert response.status_code == 302 and response["Location"] == url("person", person.pk)


def test_an_inactive_person_is_not_checked(staff_client, djen):
    person = make_person(name="Maria Lima", active=False)
    response = staff_client.post(url("person_check", person.pk), **HTMX)
    assert "inactive person" in response.content.decode()
    assert not Run.objects.filter(job=person.job).exists()


def test_deactivate(staff_client, djen):
    person = make_person(name="Maria Lima")
    response = staff_client.post(url("person_deactivate", person.pk), **HTMX)
    assert response["HX-Redirect"] == url("person", person.pk)
    person.refresh_from_db()
    assert not person.active and not person.job.enabled
    response = staff_client.post(url("person_deactivate", person.pk), follow=True)
    assert "already inactive" in response.content.decode()


def test_check_everyone_answers_with_how_many_the_worker_queued(staff_client, djen):
    people = [make_person(name=name) for name in ["Ana Souza", "Bia Lima", "Caio Dias"]]
    Run.objects.update(status=Run.Status.SUCCEEDED)  # the first checks are done
    make_person(name="Davi Inativo", active=False)
    response = staff_client.post(url("people_sync"), **HTMX)
    sync = Run.objects.get(job__kind="sync_people")
    assert response.status_code == 200 and "Waiting for a worker to queue the checks" in response.content.decode()
    execute_run(sync.pk)
    answer = staff_client.get(url("people_sync_run", sync.pk), **HTMX).content.decode()
    assert "Queued 3 person checks." in answer
    assert Run.objects.filter(status=Run.Status.QUEUED, job__person__in=people).count() == 3
    response = staff_client.post(url("people_sync"), follow=True)  # the same checks are still waiting
    again = Run.objects.filter(job__kind="sync_people").latest("pk")
    assert response.redirect_chain == [(f"/runs/{again.pk}/", 302)]
    execute_run(again.pk)
    assert Run.objects.get(pk=again.pk).result == {"queued": 0}
    assert Run.objects.filter(status=Run.Status.QUEUED, job__person__in=people).count() == 3


# --- CSV import and export (more in test_people_transfers.py) -------------------------------------


def _csv(data, name="people.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_the_import_page(staff_client):
    text = staff_client.get(url("people_import")).content.decode()
    assert 'hx-encoding="multipart/form-data"' in text and "cpf_cnpj" in text
