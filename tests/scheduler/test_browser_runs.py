"""In a real browser: the run history is filtered by a job's name, suggested while it is typed."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scheduler.models import Run
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_typing_a_jobs_name_suggests_it_and_choosing_it_filters_the_runs(browser_page):
    now = timezone.now()
    for name in ("Relatório noturno", "Relatório semanal", "Checagem horária"):
        job = make_job(name=name)
        Run.objects.create(job=job, scheduled_for=now - timedelta(minutes=len(name)), due_at=now, status="succeeded")
    page = browser_page
    page.goto(page.url_for("/runs/"))
    expect(page.locator("#run-rows tbody tr")).to_have_count(3)

    field = page.get_by_label("Job")
    field.press_sequentially("relat", delay=40)
    options = page.locator("#job-names option")
    expect(options).to_have_count(2)
    assert sorted(options.evaluate_all("(nodes) => nodes.map((n) => n.value)")) == [
        "Relatório noturno",
        "Relatório semanal",
    ]

    field.fill("Relatório semanal")
    field.dispatch_event("change")
    expect(page.locator("#run-rows tbody tr")).to_have_count(1)
    expect(page.locator("#run-rows")).to_contain_text("Relatório semanal")
    assert "job_name=" in page.url  # the filtered list has its own address
