"""An import from the browser flow run by a real django-q2 cluster: the page's progress moves while the
worker imports, and the page ends with the per-line report."""

import re
import time

import pytest
from django.test import Client
from django.urls import reverse

from scheduler.models import Run
from scheduler.shared import roles
from scrapers.models import MonitoredPerson, PeopleTransfer
from tests.scrapers.test_people_import import cpf
from tests.scrapers.test_people_transfers import csv_file
from tests.support.processes import wait_for
from tests.support.web import user_with_role

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]
ROWS = 2000
COUNT = re.compile(r'data-done="(\d+)" data-total="(\d+)"')
STATE = re.compile(r'data-state="(\w+)"')


def test_an_upload_is_imported_by_a_worker_while_its_page_shows_the_progress(processes, django_user_model):
    client = Client()
    client.force_login(user_with_role(django_user_model, "staff", roles.OPERATOR))
    lines = ["name,cpf_cnpj,active"] + [f"Pessoa {i:05d},{cpf(100_000 + i)},no" for i in range(ROWS)]
    lines[7] = "Pessoa Errada,123,no"  # line 8: a CPF with the wrong length
    processes.qcluster(VIGIA_WORKERS=1)

    response = client.post(reverse("scrapers:people_import"), {"file": csv_file("\n".join(lines).encode())})

    transfer = PeopleTransfer.objects.get()
    page = response["Location"]
    seen, state, deadline = [], "running", time.monotonic() + 300
    while state == "running":  # what the page's HTMX polling asks (every second there)
        assert time.monotonic() < deadline, f"the import never ended: {seen[-3:]}"
        live = client.get(page, HTTP_HX_REQUEST="true").content.decode()
        state = STATE.search(live)[1]
        if found := COUNT.search(live):
            seen.append(tuple(map(int, found.groups())))
        time.sleep(0.2)
    assert state == "succeeded", live
    partial = [done for done, total in seen if 0 < done < total]
    assert partial, seen  # the page showed the import under way
    assert partial == sorted(partial) and {total for _, total in seen} == {ROWS}
    assert '<dd class="num" data-count="created">1999</dd>' in live
    assert '<td class="num">8</td><td>Pessoa Errada</td><td class="mono">cpf_cnpj</td>' in live
    assert "hx-trigger" not in live  # the page stopped polling
    assert MonitoredPerson.objects.count() == ROWS - 1
    run = Run.objects.get(job__people_transfer=transfer)
    assert (run.status, run.result["created"], run.result["rejected"]) == ("succeeded", ROWS - 1, 1)
    wait_for(lambda: not Run.objects.exclude(status__in=Run.FINAL).exists(), 10, message="the run to end")
