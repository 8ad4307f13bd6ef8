"""Issue 15's first journey, in each language: a law office assistant imports the office's clients from the
spreadsheet Excel saved (';'-separated, Windows-1252), reads the import's report, opens People and sees them
waiting for their first check; the checks run (executed in the test's thread against the loopback DJEN, as a
worker would) and the open list turns them done by itself, without a reload. On Publications, the publications
found show their person, tribunal and process; filtering by person, tribunal and date range narrows the list,
and the CSV export link carries the filters. The same pages then fit a phone."""

import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from scheduler.execution import execute_run
from scheduler.models import Run
from scrapers.models import MonitoredPerson, PeopleTransfer
from tests.journeys.support import LANGUAGES, fits_a_phone, in_language, no_english, t
from tests.scrapers.people_support import days_ago, djen_fixture  # noqa: F401  (the `djen` fixture)
from tests.scrapers.test_people_import import cpf

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

JOSE, MARCIA, PAULO = "José da Conceição", "Márcia Gonçalves", "Paulo Araújo"


def spreadsheet(tmp_path):
    """The office's client list as Excel-Brazil saves it: ';'-separated, Windows-1252 (not UTF-8), CRLF; the
    fifth line has a mistyped CPF."""
    lines = [
        "Nome;CPF;Tribunais;Observações;Ativo",
        f"{JOSE};{cpf(111_444_777)};;Ação de cobrança;sim",
        f"{MARCIA};{cpf(222_555_888)};;Inventário;sim",
        f"{PAULO};;;;sim",
        "Cliente Errado;123.456.789-00;;;sim",
    ]
    path = tmp_path / "clientes.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1252") + b"\r\n")
    assert "ç".encode("cp1252") in path.read_bytes()
    return str(path)


def publications_in(djen):
    """What DJEN publishes about the clients: three for José (two tribunals), one for Márcia, none for Paulo."""
    djen.add(recipients=[JOSE], tribunal="TJSP", day=days_ago(2), process="10012345620268260100")
    djen.add(recipients=[JOSE], tribunal="TJSP", day=days_ago(15), process="10022345620268260100")
    djen.add(recipients=[JOSE, "Banco Exemplo S.A."], tribunal="TRT2", day=days_ago(5), process="10032345620265020001")
    djen.add(recipients=[MARCIA], tribunal="TJSP", day=days_ago(3), process="10042345620268260100")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_law_office_imports_its_clients_and_follows_their_publications(browser_page, djen, tmp_path, lang):
    page = in_language(browser_page, lang)
    publications_in(djen)

    # --- The import: the file, then its report.
    page.goto(page.url_for("/people/import/"))
    expect(page.locator("h1")).to_have_text(t(lang, "Import people from CSV"))
    page.get_by_label(t(lang, "CSV file")).set_input_files(spreadsheet(tmp_path))
    no_english(page, lang, ["Import people from CSV", "Back to people", "Dry run", "CSV file", "Uploading…"])
    page.get_by_role("button", name=t(lang, "Import"), exact=True).click()
    page.wait_for_url(re.compile(r"/people/transfers/\d+/$"))
    transfer = PeopleTransfer.objects.get()
    expect(page.locator("h1")).to_have_text(t(lang, "Import #%(id)s", id=transfer.pk))
    expect(page.locator("#transfer-live")).to_contain_text(t(lang, "Waiting for a worker…"))

    assert execute_run(Run.objects.get(job__people_transfer=transfer).id) == Run.Status.SUCCEEDED

    report = page.locator("#import-report")
    expect(report.locator("h2")).to_have_text(t(lang, "Imported"), timeout=10_000)
    for label, count, value in (
        (t(lang, "Lines read"), "rows", "4"),
        (t(lang, "Created", "people"), "created", "3"),
        (t(lang, "Rejected"), "rejected", "1"),
    ):
        expect(report.locator("dt", has_text=label)).to_be_visible()
        expect(report.locator(f'[data-count="{count}"]')).to_have_text(value)
    expect(report.locator("h3")).to_have_text(t(lang, "Lines with errors (skipped)"))
    bad = report.locator("tbody tr")
    expect(bad).to_have_count(1)
    expect(bad).to_contain_text("Cliente Errado")
    expect(bad.locator("td").first).to_have_text("5")
    expect(bad).to_contain_text(t(lang, "Invalid CPF: the check digits do not match."))
    expect(page.locator("#transfer-download")).to_have_text(t(lang, "Download the report (CSV)"))
    no_english(
        page,
        lang,
        ["Imported", "Lines read", ("people", "Created"), "Rejected", "Lines with errors (skipped)",
         "Download the report (CSV)", "Invalid CPF: the check digits do not match.", "Back to people"],
    )  # fmt: skip
    transfer_path = f"/people/transfers/{transfer.pk}/"

    # --- People: the three clients, waiting for their first check.
    page.locator("nav.nav").get_by_role("link", name=t(lang, "People"), exact=True).click()
    page.wait_for_url(page.url_for("/people/"))
    expect(page.locator("h1")).to_have_text(t(lang, "Monitored people"))
    rows = {name: page.locator("#people-results tbody tr", has_text=name) for name in (JOSE, MARCIA, PAULO)}
    for row in rows.values():
        expect(row.locator(".badge")).to_have_text(t(lang, "pending"))
    expect(page.locator("#people-results thead")).to_contain_text(t(lang, "First check"))
    no_english(page, lang, ["Monitored people", "First check", "pending", "Check everyone now", "Add a person"])
    page.evaluate("window.stillTheSamePage = true")

    # The first checks run (what a worker does with the queued runs), against the loopback DJEN.
    people = MonitoredPerson.objects.all()
    assert people.count() == 3
    queued = Run.objects.filter(job__person__in=people, status=Run.Status.QUEUED)
    assert queued.count() == 3
    for run in queued:
        assert execute_run(run.id) == Run.Status.SUCCEEDED

    for row in rows.values():  # the list refreshes itself every 10 s while visible
        expect(row.locator(".badge")).to_have_text(t(lang, "done"), timeout=15_000)
        expect(row.locator(".badge")).to_have_class("badge succeeded")
    assert page.evaluate("window.stillTheSamePage") is True  # no reload
    assert page.url == page.url_for("/people/")
    no_english(page, lang, ["done", "First check"])

    # --- Publications: each with its person, tribunal and process; filters narrow the list.
    page.locator("nav.nav").get_by_role("link", name=t(lang, "Publications"), exact=True).click()
    page.wait_for_url(page.url_for("/publications/"))
    expect(page.locator("h1")).to_have_text(t(lang, "Publications"))
    results = page.locator("#publications-results")
    headers = results.locator("thead th")
    for column, msgid in enumerate(("Date", "Person", "Tribunal", "Process")):
        expect(headers.nth(column)).to_have_text(t(lang, msgid))
    listed = results.locator("tbody tr")
    expect(listed).to_have_count(4)
    trt2 = listed.filter(has_text="1003234-56.2026.5.02.0001")
    expect(trt2.locator("td").nth(1)).to_have_text(JOSE)
    expect(trt2.locator("td").nth(2)).to_have_text("TRT2")
    expect(trt2.locator("td").nth(1).get_by_role("link", name=JOSE)).to_be_visible()
    marcia = listed.filter(has_text=MARCIA)
    expect(marcia.locator("td").nth(2)).to_have_text("TJSP")
    expect(marcia.locator("td").nth(3)).to_have_text("1004234-56.2026.8.26.0100")
    no_english(page, lang, ["Date", "Person", "Process", "Export CSV", "Filter", "Every person"])

    filters = page.locator("form.filters")
    filters.get_by_label(t(lang, "Person"), exact=True).fill("José")
    expect(listed).to_have_count(3)
    expect(listed.filter(has_text=MARCIA)).to_have_count(0)
    filters.get_by_label(t(lang, "Tribunal")).select_option("TJSP")  # (the label holds the options' text too)
    expect(listed).to_have_count(2)
    expect(listed.filter(has_text="TRT2")).to_have_count(0)
    filters.get_by_label(t(lang, "From"), exact=True).fill(days_ago(7).isoformat())
    expect(listed).to_have_count(1)
    filters.get_by_label(t(lang, "To"), exact=True).fill(days_ago(1).isoformat())
    expect(page).to_have_url(re.compile(r"date_to=\d"))  # the list, then the address bar, follow the filter
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("1001234-56.2026.8.26.0100")
    expect(listed.locator("td").nth(1)).to_have_text(JOSE)
    chosen = {
        "name": ["José"],
        "tribunal": ["TJSP"],
        "date_from": [days_ago(7).isoformat()],
        "date_to": [days_ago(1).isoformat()],
    }
    assert parse_qs(urlsplit(page.url).query) == chosen  # the filters are in the address bar

    export = page.locator("#publications-export-link")
    expect(export).to_have_text(t(lang, "Export CSV"))
    href = export.get_attribute("href")
    assert urlsplit(href).path == "/publications/export.csv"
    assert parse_qs(urlsplit(href).query) == chosen
    with page.expect_download() as download:
        export.click()
    exported = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read())))
    assert [(row["people"], row["tribunal"]) for row in exported] == [(JOSE, "TJSP")]
    filtered_path = "/publications/?" + urlsplit(page.url).query
    no_english(page, lang, ["Date", "Person", "Process", "Export CSV", "Filter"])

    # --- The same pages on a phone.
    fits_a_phone(page, lang, ["/people/import/", transfer_path, "/people/", filtered_path])
