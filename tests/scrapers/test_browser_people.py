"""In a real browser: add a person with a mistake first (shown inline, what was typed kept), fix it, save,
land on the person page and watch the first check finish there, live, without a reload; import a file and
watch its progress bar move until the report.

The queued check (or import) is executed in the test's thread (the scheduler's own execute_run, against the loopback
DJEN) while the page polls: the same code a qcluster worker runs, without a cluster's start-up time."""

import re

import pytest
from playwright.sync_api import expect

from scheduler.execution import execute_run
from scheduler.models import Run
from scrapers.models import MonitoredPerson, PeopleTransfer
from tests.scrapers.people_support import days_ago, djen_fixture  # noqa: F401
from tests.scrapers.test_people_import import cpf

pytestmark = pytest.mark.django_db(transaction=True)
CPF = "529.982.247-25"


def test_add_a_person_fix_an_error_and_watch_the_first_check_finish(browser_page, djen):
    page = browser_page
    djen.add(recipients=["Maria Lima"], day=days_ago(1))
    djen.add(recipients=["Maria Lima"], day=days_ago(3))
    page.goto(page.url_for("/people/new/"))

    page.fill("#id_name", "Maria Lima")
    page.fill("#id_document", "123.456.789-00")
    page.click("button.primary")
    expect(page.locator("#id_document_error")).to_contain_text("Invalid CPF")
    expect(page.locator("#id_name")).to_have_value("Maria Lima")  # swapped in place, input kept
    assert page.url == page.url_for("/people/new/")
    assert not MonitoredPerson.objects.exists()

    page.fill("#id_document", CPF)
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/people/\d+/$"))
    person = MonitoredPerson.objects.get()
    assert page.url == page.url_for(f"/people/{person.pk}/")
    expect(page.locator("[data-run-status]")).to_have_attribute("data-run-status", "queued")
    page.evaluate("window.stillTheSamePage = true")

    run = Run.objects.get(job=person.job)
    assert execute_run(run.id) == Run.Status.SUCCEEDED  # what a worker does with the queued first check

    expect(page.locator("[data-run-status]")).to_have_attribute("data-run-status", "succeeded", timeout=10_000)
    expect(page.locator("#check-found")).to_contain_text("Found 2 publications.")
    expect(page.locator("#person-publications tbody tr")).to_have_count(2)  # swapped in with the status
    assert page.evaluate("window.stillTheSamePage") is True  # no reload
    assert "hx-trigger" not in page.locator("#person-check").evaluate("node => node.outerHTML")  # polling stopped


def test_import_a_file_and_watch_the_progress_bar_move_until_the_report(browser_page, tmp_path):
    page = browser_page
    # Enough rows to take a few seconds (the import runs at thousands of rows a second): progress is
    # written at most once a second and the page polls once a second.
    rows = [f"Pessoa {i:05d},{cpf(100_000 + i)},no" for i in range(8000)]
    rows[4] = "Pessoa Errada,123,no"  # line 6
    path = tmp_path / "people.csv"
    path.write_text("name,cpf_cnpj,active\n" + "\n".join(rows) + "\n")
    page.goto(page.url_for("/people/import/"))

    page.set_input_files("#id_file", str(path))
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/people/transfers/\d+/$"))
    expect(page.locator("#transfer-live")).to_contain_text("Waiting for a worker")
    # Note every count the page shows, whatever the test thread is doing meanwhile.
    page.evaluate(
        """() => { window.stillTheSamePage = true; window.counts = [];
        setInterval(() => { const c = document.querySelector('#transfer-count');
          if (c && c.dataset.done) window.counts.push(Number(c.dataset.done)); }, 100); }"""
    )

    transfer = PeopleTransfer.objects.get()
    run = Run.objects.get(job__people_transfer=transfer)
    assert execute_run(run.id) == Run.Status.SUCCEEDED  # what a worker does, while the page polls

    expect(page.locator("#transfer-live")).to_have_attribute("data-state", "succeeded", timeout=10_000)
    expect(page.locator('[data-count="created"]')).to_have_text("7999")
    expect(page.locator("#import-report tbody tr")).to_have_count(1)
    expect(page.locator("#import-report tbody tr")).to_contain_text("6")
    counts = page.evaluate("window.counts")
    assert any(0 < count < 8000 for count in counts), counts  # the bar moved while the import ran
    assert counts == sorted(counts)
    assert page.evaluate("window.stillTheSamePage") is True  # no reload
    assert "hx-trigger" not in page.locator("#transfer-live").evaluate("node => node.outerHTML")
    with page.expect_download() as download:
        page.click("#transfer-download")
    assert download.value.suggested_filename == f"people-import-{transfer.pk}-report.csv"
