"""The people commands that talk to DJEN or the queue: check_person and check_people."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import Event
from scheduler.models import Run
from scrapers.models import MonitoredPerson, Publication
from scrapers.people import services as people
from scrapers.people.publications import COURT_ZONE
from tests.support.commands import call, call_failing

pytestmark = pytest.mark.django_db

PATH = "/api/v1/comunicacao"


def item(djen_id, recipient, **fields):
    return {
        "id": djen_id,
        "data_disponibilizacao": "2026-11-20",
        "siglaTribunal": "TJSP",
        "tipoComunicacao": "Intimação",
        "nomeOrgao": "1ª Vara Cível de São Paulo",
        "texto": "<p>Fica intimada a parte.</p>",
        "numero_processo": "10012345620268260100",
        "numeroprocessocommascara": "1001234-56.2026.8.26.0100",
        "link": "https://comunicaapi.pje.jus.br/api/v1/comunicacao/abc/certidao",
        "hash": f"hash-{djen_id}",
        "meio": "D",
        "destinatarios": [{"nome": recipient, "polo": "P"}],
        "destinatarioadvogados": [{"advogado": {"nome": "Advogado X", "numero_oab": "99999", "uf_oab": "SP"}}],
        **fields,
    }


def answer(*items):
    return {"status": "success", "message": "Sucesso", "count": len(items), "items": list(items)}


@pytest.fixture
def djen(site, settings):
    settings.VIGIA_DJEN_URL = site.url
    settings.VIGIA_DJEN_FIRST_DAYS = 30
    return site


def a_person(name="José da Silva", **fields):
    return MonitoredPerson.objects.create(name=name, **fields)


# --- check_person ---------------------------------------------------------------------------------


def test_check_person_prints_the_new_publications_and_a_second_run_finds_none(djen):
    djen.respond(
        PATH,
        body=answer(
            item(501, "JOSÉ DA SILVA - CPF: 529.982.247-25"),
            item(502, "JOSE DA SILVA SANTOS"),  # DJEN's loose search: someone else
            item(
                503,
                "José da Silva",
                data_disponibilizacao="2026-11-18",
                siglaTribunal="TRT2",
                tipoComunicacao="Citação",
                numeroprocessocommascara="0000123-45.2026.5.02.0001",
            ),
        ),
    )
    person = a_person()
    today = timezone.localdate(timezone=COURT_ZONE)

    out, _ = call("check_person", "jose da silva")  # found by name, accents and case aside

    header, summary, *found = out.splitlines()
    assert header == f"Checking person {person.pk} 'José da Silva' in DJEN ({djen.url})"
    assert summary == (
        f"Window {today - timedelta(days=30)} to {today}: 1 request(s), 3 item(s) returned, 2 matched, 2 new"
    )
    assert found == [
        "  2026-11-18  TRT2  0000123-45.2026.5.02.0001  Citação",
        "  2026-11-20  TJSP  1001234-56.2026.8.26.0100  Intimação",
    ]
    assert djen.requests[0].query["nomeParte"] == ["José da Silva"]
    assert set(Publication.objects.values_list("djen_id", flat=True)) == {501, 503}
    assert Event.objects.filter(topic=person.topic, type="publication.new").count() == 2

    out, _ = call("check_person", str(person.pk))

    assert out.splitlines()[1] == (
        f"Window {today - timedelta(days=1)} to {today}: 1 request(s), 3 item(s) returned, 2 matched, 0 new"
    )
    assert len(out.splitlines()) == 2  # no publication lines
    assert Event.objects.filter(topic=person.topic).count() == 2


def test_check_person_fails_with_djens_reason_on_a_422(djen):
    djen.respond(PATH, status=422, body={"message": "parâmetros inválidos"})
    person = a_person()

    message, out, _ = call_failing("check_person", str(person.pk))

    assert message == "Check of 'José da Silva' failed: DJEN refused the query's parameters (HTTP 422)."
    assert out.startswith("Checking person ")
    person.refresh_from_db()
    assert person.last_error == "DJEN refused the query's parameters (HTTP 422)."
    assert person.first_check == MonitoredPerson.FirstCheck.FAILED and person.last_success_at is None


def test_check_person_names_what_it_could_not_find():
    assert call_failing("check_person", "Ninguém")[0] == "No monitored person with id or name 'Ninguém'"
    a = a_person(document="52998224725")
    b = a_person(document="11222333000181")
    message, _, _ = call_failing("check_person", "JOSE DA SILVA")
    assert message == f"Several monitored people are named 'JOSE DA SILVA' (#{a.pk}, #{b.pk}): give the id."


# --- check_people ---------------------------------------------------------------------------------


def watched(name, due, **fields):
    """A person with a job and no run yet, due now or in an hour."""
    moment = timezone.now() + (timedelta(minutes=-1) if due else timedelta(hours=1))
    person = a_person(name=name, next_check_at=moment, **fields)
    people.sync_job(person)
    return person


def runs(person):
    return Run.objects.filter(job__person=person).count()


def test_check_people_queues_the_due_people_and_force_every_active_one():
    due = watched("Ana Souza", due=True)
    later = watched("Bruno Costa", due=False)
    off = watched("Carla Dias", due=True, active=False)
    expired = watched("Davi Lima", due=True, monitor_until=timezone.localdate() - timedelta(days=1))

    out, _ = call("check_people")

    assert out.strip() == "queued 1 check(s) of due people"
    assert [runs(p) for p in (due, later, off, expired)] == [1, 0, 0, 0]
    assert call("check_people")[0].strip() == "queued 0 check(s) of due people"  # not due again yet

    Run.objects.update(status=Run.Status.SUCCEEDED)
    out, _ = call("check_people", "--force")

    assert out.strip() == "queued 2 check(s): every active person without one already waiting"
    assert [runs(p) for p in (due, later, off, expired)] == [2, 1, 0, 0]
    assert set(Run.objects.filter(status=Run.Status.QUEUED).values_list("trigger", flat=True)) == {"manual"}
