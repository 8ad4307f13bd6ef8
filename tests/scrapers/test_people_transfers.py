"""CSV imports and exports of people as recorded jobs: the upload refused at once or stored and queued, the
page that polls while the run goes and ends with the report or the download, failures, permissions, the
admin's way in, and retention. The queued run is executed here with the scheduler's own execute_run (what
a worker does); tests/scrapers/test_people_transfer_processes.py runs it on a real cluster."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from scheduler import services
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scheduler.shared import retention, roles
from scrapers.models import MonitoredPerson, PeopleTransfer
from scrapers.people import transfers
from scrapers.people.brazil import normalize_name

pytestmark = pytest.mark.django_db
CPF = "529.982.247-25"
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(f"scrapers:{name}", args=args)


def csv_file(data, name="people.csv"):
    return SimpleUploadedFile(name, data, content_type="text/csv")


def upload(client, data, **extra):
    return client.post(url("people_import"), {"file": csv_file(data), **extra})


def the_run(transfer):
    return Run.objects.filter(job__people_transfer=transfer).order_by("-attempt").first()


def work(transfer):
    """What a worker does with the transfer's queued run."""
    return execute_run(the_run(transfer).id)


def page(client, transfer, htmx=False):
    response = client.get(url("people_transfer", transfer.pk), **(HTMX if htmx else {}))
    assert response.status_code == 200
    return response.content.decode()


def bulk_people(names, **fields):
    rows = [MonitoredPerson(name=name, normalized_name=normalize_name(name), **fields) for name in names]
    return MonitoredPerson.objects.bulk_create(rows)


# --- importing ------------------------------------------------------------------------------------------


def test_an_upload_is_queued_as_a_job_and_its_page_polls_until_the_per_line_report(staff_client):
    data = f"name,cpf_cnpj,tribunals,active\nMaria Lima,{CPF},TJSP,no\nJoão Bad,123,TJSP,no\nAna,,NOPE,no\n"

    response = upload(staff_client, data.encode())

    transfer = PeopleTransfer.objects.get()
    assert response.status_code == 302 and response["Location"] == url("people_transfer", transfer.pk)
    assert not MonitoredPerson.objects.exists()  # nothing imported inside the request
    assert bytes(transfer.upload) == data.encode()  # in the database: any worker host can read it
    run = the_run(transfer)
    assert (run.status, run.job.kind, run.job.timeout_seconds) == ("queued", "import_people", 3600)
    text = page(staff_client, transfer)
    assert 'hx-trigger="every 1s"' in text and "Waiting for a worker" in text and 'data-state="running"' in text

    assert work(transfer) == Run.Status.SUCCEEDED

    live = page(staff_client, transfer, htmx=True)
    assert "<html" not in live and "hx-trigger" not in live and 'data-state="succeeded"' in live  # polling ends
    assert '<dd class="num" data-count="created">1</dd>' in live
    assert '<dd class="num bad" data-count="rejected">2</dd>' in live
    assert '<td class="num">3</td><td>João Bad</td><td class="mono">cpf_cnpj</td>' in live  # whose row, too
    assert '<td class="num">4</td><td>Ana</td><td class="mono">tribunals</td>' in live and "Unknown tribunal" in live
    assert list(MonitoredPerson.objects.values_list("name", flat=True)) == ["Maria Lima"]
    assert PeopleTransfer.objects.get().upload is None  # the report stays, the file's bytes go
    assert the_run(transfer).result == {
        "transfer": transfer.pk,
        "dry_run": False,
        "rows": 3,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 2,
        "earlier_attempt_rows": 0,
    }
    report = staff_client.get(url("people_transfer_download", transfer.pk))
    assert report["Content-Disposition"] == f'attachment; filename="people-import-{transfer.pk}-report.csv"'
    lines = report.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "line,name,column,problem" and lines[1].startswith("3,João Bad,cpf_cnpj,")
    assert lines[2].startswith("4,Ana,tribunals,")


def test_the_page_shows_the_progress_the_run_writes(staff_client):
    upload(staff_client, b"name\nMaria Lima\n")
    transfer = PeopleTransfer.objects.get()
    assert "Reading the file" in page(staff_client, transfer)  # before the first progress
    Run.objects.filter(pk=the_run(transfer).pk).update(status=Run.Status.RUNNING)

    transfers.Progress(transfer.pk)(1200, 3000)

    live = page(staff_client, transfer, htmx=True)
    assert '<progress id="transfer-progress" max="3000" value="1200">' in live
    assert "1200 of 3000 rows (40 %)" in live and 'hx-trigger="every 1s"' in live


def test_progress_is_written_at_most_once_a_second_and_always_at_the_end(staff_client):
    upload(staff_client, b"name\nMaria Lima\n")
    transfer = PeopleTransfer.objects.get()
    seen = []
    progress = transfers.Progress(transfer.pk)
    for done in range(50, 1001, 50):  # twenty calls within a second
        progress(done, 1000)
        transfer.refresh_from_db()
        seen.append(transfer.done)
    assert seen == [50] * 19 + [1000]


def test_a_dry_run_saves_no_one_and_says_so(staff_client):
    upload(staff_client, b"name\nMaria Lima\nAna Souza\n", dry_run="on")
    transfer = PeopleTransfer.objects.get()
    assert work(transfer) == Run.Status.SUCCEEDED
    live = page(staff_client, transfer)
    assert "Dry run: nothing was saved" in live and '<dd class="num" data-count="created">2</dd>' in live
    assert not MonitoredPerson.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04binary workbook", "not CSV"),
        (b"nome;idade\nMaria;30\n", "Unknown column"),
        (b"tribunals\nTJSP\n", "No &#x27;name&#x27; column"),
        (b"\xef\xbb\xbfname\nMaria \xff\xfe\n", "not UTF-8"),
        (b"name,cpf_cnpj\n", "a header but no rows"),
        (b"", "The submitted file is empty"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_at_once_and_no_job_is_created(staff_client, data, message):
    response = staff_client.post(url("people_import"), {"file": csv_file(data)}, **HTMX)
    text = response.content.decode()
    assert response.status_code == 200 and message in text and 'id="id_file_error"' in text
    assert not PeopleTransfer.objects.exists() and not Job.objects.exists() and not MonitoredPerson.objects.exists()


def test_a_file_over_5_mb_is_refused(staff_client):
    data = b"name\n" + b"Maria Lima\n" * (5 * 1024 * 1024 // 11 + 1)
    response = staff_client.post(url("people_import"), {"file": csv_file(data)}, **HTMX)
    assert "larger than 5 MB" in response.content.decode() and not PeopleTransfer.objects.exists()


def test_a_failure_in_the_run_is_shown_on_the_page_and_not_retried(staff_client):
    upload(staff_client, b"name\nMaria Lima\n")
    transfer = PeopleTransfer.objects.get()
    PeopleTransfer.objects.filter(pk=transfer.pk).update(upload=b"nome;idade\nMaria;30\n")  # as if corrupted

    assert work(transfer) == Run.Status.FAILED

    live = page(staff_client, transfer, htmx=True)
    assert 'data-state="failed"' in live and "hx-trigger" not in live
    assert 'id="transfer-error">Unknown column(s): idade. Expected:' in live
    assert Run.objects.filter(job__people_transfer=transfer).count() == 1  # a bad file is not tried again
    assert staff_client.get(url("people_transfer_download", transfer.pk)).status_code == 404


def test_a_cancelled_run_ends_the_page_with_its_reason(staff_client):
    upload(staff_client, b"name\nMaria Lima\n")
    transfer = PeopleTransfer.objects.get()
    services.cancel([the_run(transfer)])
    live = page(staff_client, transfer, htmx=True)
    assert 'data-state="failed"' in live and "Cancelled by an operator." in live and "hx-trigger" not in live


def test_a_second_delivery_of_a_finished_import_keeps_its_report(staff_client):
    upload(staff_client, f"name,cpf_cnpj,active\nMaria Lima,{CPF},no\n".encode())
    transfer = PeopleTransfer.objects.get()
    assert work(transfer) == Run.Status.SUCCEEDED

    MonitoredPerson.objects.update(active=True)  # an operator's change since the import

    # A worker that dies after the import but before its run is recorded: the run is delivered again.
    again = transfers.run_import(transfer.pk)

    transfer.refresh_from_db()
    assert again["created"] == 1 and transfer.report["created"] == 1 and transfer.report["unchanged"] == 0
    assert MonitoredPerson.objects.get().active  # not imported a second time over the operator's change


def test_an_attempt_after_a_partial_one_says_how_far_that_one_came(staff_client):
    upload(staff_client, b"name,active\nMaria Lima,no\nAna Souza,no\n")
    transfer = PeopleTransfer.objects.get()
    bulk_people(["Maria Lima"], active=False)  # saved by the attempt that died ...
    PeopleTransfer.objects.filter(pk=transfer.pk).update(done=1, total=2)  # ... after reporting one row

    assert work(transfer) == Run.Status.SUCCEEDED

    live = page(staff_client, transfer)
    assert '<dd class="num" data-count="unchanged">1</dd>' in live
    assert "An earlier attempt had already read 1 rows" in live


# --- exporting ------------------------------------------------------------------------------------------


def test_an_export_keeps_the_lists_filters_and_ends_with_the_download(staff_client):
    bulk_people(["José da Silva"], document="52998224725")
    bulk_people(["Bia Inativa"], active=False)

    shown = staff_client.get(url("people_export"), {"active": "yes", "after": "7"}).content.decode()
    assert "1 person matches" in shown and '<input type="hidden" name="active" value="yes">' in shown
    response = staff_client.post(url("people_export"), {"active": "yes"})

    transfer = PeopleTransfer.objects.get()
    assert response["Location"] == url("people_transfer", transfer.pk)
    assert 'hx-trigger="every 1s"' in page(staff_client, transfer)
    assert work(transfer) == Run.Status.SUCCEEDED
    live = page(staff_client, transfer)
    assert "Exported 1 person." in live and "hx-trigger" not in live
    download = staff_client.get(url("people_transfer_download", transfer.pk))
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    text = download.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("name,cpf_cnpj") and f"José da Silva,{CPF}" in text
    assert "Bia Inativa" not in text


def test_an_excel_export_and_its_failure_naming_what_windows_1252_lacks(staff_client):
    bulk_people(["José da Silva"])
    staff_client.post(url("people_export"), {"excel": "on"})
    good = PeopleTransfer.objects.get()
    assert work(good) == Run.Status.SUCCEEDED
    download = staff_client.get(url("people_transfer_download", good.pk))
    assert download["Content-Type"] == "text/csv; charset=cp1252"
    assert "José da Silva;".encode("cp1252") in download.content

    bulk_people(["Zoë 李"])
    staff_client.post(url("people_export"), {"excel": "on"})
    bad = PeopleTransfer.objects.latest("pk")
    assert work(bad) == Run.Status.FAILED
    assert "Windows-1252 cannot write the names or notes of" in page(staff_client, bad)


def test_the_lists_export_link_follows_the_filters(staff_client):
    text = staff_client.get(url("people"), {"active": "no"}, **HTMX).content.decode()
    assert f'id="people-export-link" href="{url("people_export")}?active=no" hx-swap-oob="true"' in text


# --- who sees what --------------------------------------------------------------------------------------


def test_only_operators_import_or_export_and_others_see_only_their_own(staff_client, operator_client, viewer_client):
    assert upload(viewer_client, b"name\nMaria Lima\n").status_code == 403
    assert viewer_client.post(url("people_export")).status_code == 403  # a viewer may not export
    assert viewer_client.get(url("people_export")).status_code == 403
    assert not PeopleTransfer.objects.exists()
    upload(operator_client, b"name\nMaria Lima\n")
    operators = PeopleTransfer.objects.get()
    staff_client.post(url("people_export"))
    admins = PeopleTransfer.objects.latest("pk")
    assert admins.user == staff_client.user and admins.kind == "export"

    assert viewer_client.get(url("people_transfer", operators.pk)).status_code == 404
    assert viewer_client.get(url("people_transfer_download", admins.pk)).status_code == 404
    assert operator_client.get(url("people_transfer", admins.pk)).status_code == 200
    assert staff_client.get(url("people_transfer", operators.pk)).status_code == 200
    roles.set_role(operator_client.user, roles.VIEWER)  # demoted: their own transfer only, from the next request
    assert operator_client.get(url("people_transfer", operators.pk)).status_code == 200
    assert operator_client.get(url("people_transfer", admins.pk)).status_code == 404


@pytest.mark.parametrize("name", ["people_transfer", "people_transfer_download"])
def test_anonymous_visitors_are_sent_to_the_login(client, name):
    response = client.get(url(name, 1))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_transfers_job_links_to_its_page_and_cannot_be_deleted_alone(staff_client):
    upload(staff_client, b"name\nMaria Lima\n")
    transfer = PeopleTransfer.objects.get()
    text = staff_client.get(reverse("scheduler:job", args=[transfer.job_id])).content.decode()
    assert url("people_transfer", transfer.pk) in text
    with pytest.raises(services.OwnedJob):
        services.delete([transfer.job])


# --- the admin ------------------------------------------------------------------------------------------


def test_the_admin_links_to_the_pages_and_exports_its_selection(admin_client):
    people = bulk_people(["Ana Souza", "Bia Lima", "Caio Reis"])
    changelist = reverse("admin:scrapers_monitoredperson_changelist")
    text = admin_client.get(changelist).content.decode()
    assert f'href="{url("people_import")}"' in text and f'href="{url("people_export")}"' in text

    chosen = [people[0].pk, people[2].pk]
    response = admin_client.post(changelist, {"action": "export_selected", "_selected_action": chosen})

    transfer = PeopleTransfer.objects.get()
    assert response.status_code == 302 and response["Location"] == url("people_transfer", transfer.pk)
    assert work(transfer) == Run.Status.SUCCEEDED
    text = admin_client.get(url("people_transfer_download", transfer.pk)).content.decode("utf-8-sig")
    assert "Ana Souza" in text and "Caio Reis" in text and "Bia Lima" not in text
    listed = admin_client.get(reverse("admin:scrapers_peopletransfer_changelist")).content.decode()
    assert url("people_transfer", transfer.pk) in listed


# --- retention ------------------------------------------------------------------------------------------


def test_old_transfers_go_with_their_job_and_runs_but_not_while_running(staff_client, settings):
    settings.VIGIA_RETAIN_TRANSFERS_DAYS = 7
    upload(staff_client, b"name\nMaria Lima\n")
    upload(staff_client, b"name\nAna Souza\n")
    done, running = PeopleTransfer.objects.order_by("pk")
    assert work(done) == Run.Status.SUCCEEDED
    PeopleTransfer.objects.update(created_at=timezone.now() - timedelta(days=8))

    result, failed = retention.prune_all(pause=0)

    assert not failed and result["people_transfers"]["deleted"] == 1
    assert list(PeopleTransfer.objects.values_list("pk", flat=True)) == [running.pk]  # its run is queued
    assert not Job.objects.filter(pk=done.job_id).exists() and not Run.objects.filter(job_id=done.job_id).exists()
