"""The publications pages: search (text, process number, tribunal), the person filter, keyset paging, and
one publication with its escaped text and the people it matched."""

import pytest
from django.urls import reverse

from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people import views_publications
from scrapers.people.brazil import normalize_name

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(f"scrapers:{name}", args=args)


def person(name):
    return MonitoredPerson.objects.create(name=name, normalized_name=normalize_name(name))


def publication(djen_id, **fields):
    fields.setdefault("tribunal", "TJSP")
    fields.setdefault("process_number", f"{djen_id:020d}")
    return Publication.objects.create(djen_id=djen_id, **fields)


def shown(response):
    return [row.djen_id for row in response.context["page"]]


def test_anonymous_visitors_are_sent_to_the_login(client):
    item = publication(1)
    for path in [url("publications"), url("publication", item.pk)]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_an_unknown_publication_is_404(staff_client):
    assert staff_client.get(url("publication", 999999)).status_code == 404


def test_the_list_is_newest_first_with_bounded_queries(viewer_client, django_assert_max_num_queries):
    for i in range(30):
        publication(i + 1, process_number_masked=f"000{i:04d}-12.2024.8.26.0100", organ="1ª Vara")
    with django_assert_max_num_queries(5):  # + the role's permissions (scheduler.shared.roles)
        response = viewer_client.get(url("publications"))
    assert response.status_code == 200
    assert shown(response) == list(range(30, 0, -1))
    assert "0000029-12.2024.8.26.0100" in response.content.decode()


def test_search_by_text_process_number_and_tribunal(viewer_client):
    publication(
        1,
        text="Intimação de José da Silva",
        process_number="00012345620248260100",
        process_number_masked="0001234-56.2024.8.26.0100",
    )
    publication(2, text="Citação", tribunal="TRT2")
    publication(3, text="Outra intimação", number="777")

    def found(query):
        return sorted(shown(viewer_client.get(url("publications"), {"q": query})))

    assert found("intimação") == [1, 3]
    assert found("0001234-56.2024.8.26.0100") == [1]
    assert found("00012345620248260100") == [1]
    assert found("trt2") == [2]
    assert found("777") == [3]
    assert found("intimação josé") == [1]  # every word must match
    assert found("de intimação") == [1, 3]  # words shorter than three letters are left out
    assert found("0001234") == [1]  # part of a process number
    assert found("nothing-like-this") == []


def test_the_person_filter_and_paging(viewer_client, monkeypatch):
    monkeypatch.setattr(views_publications, "PAGE_SIZE", 5)
    ana, bia = person("Ana Souza"), person("Bia Lima")
    for i in range(12):
        item = publication(i + 1)
        PublicationMatch.objects.create(person=ana if i % 2 == 0 else bia, publication=item, how="name")
    response = viewer_client.get(url("publications"), {"person": ana.pk})
    assert shown(response) == [11, 9, 7, 5, 3]
    assert "Ana Souza" in response.content.decode()
    page = response.context["page"]
    response = viewer_client.get(url("publications"), {"person": ana.pk, "before": page.next_before})
    assert shown(response) == [1]
    assert viewer_client.get(url("publications"), {"person": 999999}).context["page"].rows == []
    assert len(shown(viewer_client.get(url("publications"), {"person": "x"}))) == 5  # a bad filter is ignored


def test_htmx_search_answers_only_the_results(viewer_client):
    publication(1, text="abc")
    text = viewer_client.get(url("publications"), {"q": "abc"}, **HTMX).content.decode()
    assert 'id="publications-results"' in text and "<html" not in text


def test_a_publication_shows_its_escaped_text_and_the_people_it_matched(viewer_client, django_assert_max_num_queries):
    item = publication(
        5,
        text="Fica intimado <script>alert(1)</script>\nsegunda linha",
        link="javascript:alert(1)",
        recipients=[{"name": "ANA SOUZA", "role": "A"}],
        lawyers=[{"name": "Dr. Caio", "oab": "12345", "uf": "SP"}],
    )
    people = [person(f"Pessoa {i:02d}") for i in range(30)]
    PublicationMatch.objects.bulk_create([PublicationMatch(person=p, publication=item, how="text") for p in people])
    with django_assert_max_num_queries(5):  # + the role's permissions
        response = viewer_client.get(url("publication", item.pk))
    text = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "javascript:alert" not in text  # only http(s) links are offered
    assert "Pessoa 29" in text and url("person", people[0].pk) in text
    assert "ANA SOUZA" in text and "OAB 12345/SP" in text


def test_a_publication_links_to_djen(viewer_client):
    item = publication(6, link="https://comunicaapi.pje.jus.br/api/v1/comunicacao/6/certidao")
    text = viewer_client.get(url("publication", item.pk)).content.decode()
    assert 'href="https://comunicaapi.pje.jus.br/api/v1/comunicacao/6/certidao"' in text
