"""The publications list a lawyer uses: newest publication date first (on the list and the person page),
the matched people, the filters (person, tribunal, date range, text) with field errors for bad dates, the
(date, id) keyset pager, and the CSV export of exactly the filtered list."""

import csv
import io
from datetime import date

import pytest
from django.urls import reverse

from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people import views_publications
from scrapers.people.brazil import normalize_name

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(f"scrapers:{name}", args=args)


def person(name, **fields):
    return MonitoredPerson.objects.create(name=name, normalized_name=normalize_name(name), **fields)


def publication(djen_id, day=None, people=(), **fields):
    fields.setdefault("tribunal", "TJSP")
    fields.setdefault("process_number", f"{djen_id:020d}")
    item = Publication.objects.create(djen_id=djen_id, date=day, **fields)
    for someone in people:
        PublicationMatch.objects.create(person=someone, publication=item, how="name")
    return item


def shown(response):
    assert response.status_code == 200
    return [row.djen_id for row in response.context["page"]]


def listed(client, **params):
    return shown(client.get(url("publications"), params))


@pytest.fixture
def office():
    """Two people, publications over three tribunals and three days, created out of date order."""
    ana, joao = person("Ana Souza"), person("João Araújo", document="52998224725")
    publication(1, date(2024, 12, 3), [ana], tribunal="TJSP", text="Intimação da audiência de Ana")
    publication(2, date(2024, 12, 5), [ana, joao], tribunal="TRT2", text="Citação de João Araújo")
    publication(3, date(2024, 12, 4), [joao], tribunal="TJSP", text="Sentença publicada")
    publication(4, None, [], tribunal="TRF3", text="Sem data")
    publication(5, date(2024, 12, 5), [ana], tribunal="TJSP", text="Despacho: manifeste-se")
    return ana, joao


def test_anonymous_visitors_are_sent_to_the_login(client):
    for path in [url("publications"), url("publications_export")]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_newest_publication_date_first_then_id_undated_last(viewer_client, office):
    assert listed(viewer_client) == [5, 2, 3, 1, 4]  # 5 Dec above 3 Dec, whatever the creation order


def test_the_person_page_lists_the_newest_publications_first(viewer_client, office):
    ana, _joao = office
    response = viewer_client.get(url("person", ana.pk))
    assert response.status_code == 200
    assert [match.publication.djen_id for match in response.context["matches"]] == [5, 2, 1]
    text = response.content.decode()
    assert text.index(url("publication", Publication.objects.get(djen_id=2).pk)) < text.index(
        url("publication", Publication.objects.get(djen_id=1).pk)
    )


def test_the_columns_show_the_matched_people_linked(viewer_client, office):
    ana, joao = office
    text = viewer_client.get(url("publications")).content.decode()
    assert url("person", ana.pk) in text and url("person", joao.pk) in text
    assert "João Araújo" in text and "TRT2" in text and "Citação de João Araújo" in text
    assert f"{2:020d}" in text  # the process number


def test_each_filter_narrows_the_list(viewer_client, office):
    ana, joao = office
    assert listed(viewer_client, person=ana.pk) == [5, 2, 1]
    assert listed(viewer_client, name="joao araujo") == [2, 3]  # by name, accents and case ignored
    assert listed(viewer_client, name="529.982.247-25") == [2, 3]  # or CPF
    assert listed(viewer_client, name="Ana") == [5, 2, 1]  # one row per publication, however many matched
    assert listed(viewer_client, tribunal="TJSP") == [5, 3, 1]
    assert listed(viewer_client, date_from="2024-12-04") == [5, 2, 3]
    assert listed(viewer_client, date_to="2024-12-04") == [3, 1]
    assert listed(viewer_client, date_from="2024-12-04", date_to="2024-12-04") == [3]
    assert listed(viewer_client, q="citação") == [2]
    assert listed(viewer_client, name="ana", tribunal="TJSP", date_from="2024-12-04", q="despacho") == [5]


def test_the_filters_form_offers_tribunals_and_dates(viewer_client, office):
    text = viewer_client.get(url("publications")).content.decode()
    assert '<option value="TRT2">TRT2</option>' in text
    assert 'type="date" name="date_from"' in text and 'type="date" name="date_to"' in text
    assert 'name="name"' in text  # the person is chosen by name, not by a typed id


@pytest.mark.parametrize(
    ("params", "wrong"),
    [
        ({"date_from": "2024-13-45"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_from": "9999-12-31"}, "date_from"),
        ({"date_from": "2024-12-05", "date_to": "2024-12-03"}, "date_to"),
        ({"tribunal": "NOPE"}, "tribunal"),
    ],
)
def test_bad_filters_are_field_errors_not_500s(viewer_client, operator_client, office, params, wrong):
    response = viewer_client.get(url("publications"), params)
    assert response.status_code == 200
    filters = response.context["filters"]
    assert list(filters.errors) == [wrong]
    assert len(shown(response)) >= 1  # the valid filters still apply; the bad one is shown, not applied
    assert 'id="publication-filter-errors"' in response.content.decode()
    htmx = viewer_client.get(url("publications"), params, **HTMX)
    assert htmx.status_code == 200 and 'id="publication-filter-errors"' in htmx.content.decode()
    assert operator_client.get(url("publications_export"), params).status_code == 200  # a viewer may not export


def test_a_bad_cursor_is_the_first_page(viewer_client, office):
    for before in ["x", "2024-99-01_3", "_", "2024-12-05_", "2024-12-05_99999999999999999999"]:
        assert listed(viewer_client, before=before) == [5, 2, 3, 1, 4]


def test_the_pager_walks_dates_then_ids_then_the_undated(viewer_client, monkeypatch):
    monkeypatch.setattr(views_publications, "PAGE_SIZE", 2)
    days = [date(2024, 12, 3), date(2024, 12, 5), None, date(2024, 12, 5), date(2024, 12, 4), None, None]
    for i, day in enumerate(days):
        publication(i + 1, day)
    seen, before, pages = [], "", 0
    while True:
        page = viewer_client.get(url("publications"), {"before": before} if before else {}).context["page"]
        seen += [row.djen_id for row in page]
        pages += 1
        if not page.next_before:
            break
        before = page.next_before
    assert seen == [4, 2, 5, 1, 7, 6, 3] and pages == 4


def test_the_pager_keeps_the_filters(viewer_client, office, monkeypatch):
    monkeypatch.setattr(views_publications, "PAGE_SIZE", 2)
    ana, _joao = office
    first = viewer_client.get(url("publications"), {"person": ana.pk})
    assert shown(first) == [5, 2]
    assert f"person={ana.pk}" in first.context["query"] and f"person={ana.pk}" in first.context["export_query"]
    second = viewer_client.get(url("publications"), {"person": ana.pk, "before": first.context["page"].next_before})
    assert shown(second) == [1] and not second.context["page"].next_before


def test_the_export_link_follows_the_filters(operator_client, office):
    text = operator_client.get(url("publications"), {"tribunal": "TJSP", "q": "x"}, **HTMX).content.decode()
    assert 'id="publications-export-link"' in text and "hx-swap-oob" in text
    assert f"{url('publications_export')}?tribunal=TJSP&amp;q=x" in text


def read_csv(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8's BOM: Excel shows the accents
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_the_csv_holds_exactly_the_filtered_rows_with_accents(operator_client, office):
    rows = read_csv(operator_client.get(url("publications_export"), {"name": "joão"}))
    assert rows[0] == views_publications.EXPORT_COLUMNS
    assert [row[6] for row in rows[1:]] == ["2", "3"]  # the list's order
    assert rows[1][:4] == ["2024-12-05", "TRT2", f"{2:020d}", "Ana Souza; João Araújo"]
    assert rows[1][-1] == "Citação de João Araújo"
    everything = read_csv(operator_client.get(url("publications_export")))
    assert [row[6] for row in everything[1:]] == ["5", "2", "3", "1", "4"]
    assert read_csv(operator_client.get(url("publications_export"), {"tribunal": "TRF3"}))[1][0] == ""


def test_the_csv_defuses_formulas_and_streams_in_chunks(operator_client, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(views_publications, "EXPORT_CHUNK", 3)
    who = person("Zé")
    for i in range(10):
        publication(i + 1, date(2024, 1, i + 1), [who], text="=HYPERLINK(1)" if i == 0 else "texto")
    response = operator_client.get(url("publications_export"))
    with django_assert_max_num_queries(10):  # 4 chunks of rows, each with its people in one query
        rows = read_csv(response)
    assert len(rows) == 11 and rows[-1][-1] == "'=HYPERLINK(1)"
