"""The audit trail (scheduler.shared.audit, /audit/): who changed what and when, through the dashboard, the
admin, the API and the commands, with secrets masked; the engine's own writes are not recorded; the page is
the admins', filtered by object, actor, way in and date."""

import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from channels_app import tokens
from scheduler import services
from scheduler.execution import execute_run
from scheduler.models import AuditEntry, Job, Run
from scheduler.shared import audit, retention, roles
from scrapers.models import Item, Source
from scrapers.sources import checks
from tests.loopback import organizer
from tests.loopback.server import LoopbackServer
from tests.support.factories import job_form_data, make_job
from tests.support.web import user_with_role

pytestmark = pytest.mark.django_db

COOKIE = "session=audit-cookie-never-written"


def entries(**filters):
    return list(AuditEntry.objects.filter(**filters).order_by("pk"))


def test_a_dashboard_edit_of_a_job_records_who_through_what_and_the_changed_fields(staff_client):
    job = make_job(name="report", schedule_type="cron", cron="0 9 * * *", timezone="UTC")
    assert entries() == []  # made outside any request or command: nobody acted
    data = job_form_data(name="report", cron="30 9 * * *", timezone="UTC")
    answer = staff_client.post(f"/jobs/{job.pk}/", data)
    assert answer.status_code in (200, 302), answer.content[:500]
    [entry] = entries(object_type="scheduler.job", object_id=str(job.pk))
    assert (entry.actor, entry.via, entry.action, entry.user) == ("staff", "dashboard", "update", staff_client.user)
    assert entry.changes["cron"] == ["0 9 * * *", "30 9 * * *"]
    assert "next_run_at" not in entry.changes and "updated_at" not in entry.changes  # bookkeeping


def test_pause_resume_and_run_now_from_the_dashboard_are_named_actions(operator_client):
    job = make_job()
    assert operator_client.post(f"/jobs/{job.pk}/pause/").status_code in (200, 302)
    assert operator_client.post(f"/jobs/{job.pk}/resume/").status_code in (200, 302)
    assert operator_client.post(f"/jobs/{job.pk}/run/").status_code in (200, 302)
    actions = [(e.action, e.changes.get("enabled")) for e in entries(object_id=str(job.pk))]
    assert actions[:2] == [("pause", [True, False]), ("resume", [False, True])]
    assert actions[2][0] == "run now"
    assert {e.actor for e in entries()} == {"operator-user"}


def test_a_source_header_value_is_recorded_masked_never_its_value(settings):
    settings.VIGIA_API_RATE_PER_MINUTE = 0
    source = organizer.make_source("http://127.0.0.1:9/tarefas", headers={"Cookie": "old-value"})
    raw = tokens.create("crm", scopes=["sources:read", "sources:write"])[1]
    body = json.dumps({"headers": {"Cookie": COOKIE, "X-Team": "plantão"}})
    answer = Client().patch(
        f"/api/v1/sources/{source.pk}", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert answer.status_code == 200, answer.content
    [entry] = entries(object_type="scrapers.source", action="update")
    assert (entry.actor, entry.via, entry.user) == ("token:crm", "api", None)
    assert entry.changes["headers"] == [{"Cookie": "********"}, {"Cookie": "********", "X-Team": "********"}]
    stored = json.dumps(list(AuditEntry.objects.values_list("changes", flat=True)), ensure_ascii=False)
    assert "audit-cookie" not in stored and "old-value" not in stored and "plantão" not in stored


def test_secrets_are_masked_on_creation_too():
    with audit.acting(audit.Actor(via=audit.COMMAND, name="command:test")):
        token, _raw = tokens.create("partner", scopes=["jobs:read"])
    [entry] = entries(object_type="channels_app.apitoken")
    assert entry.action == "create" and entry.changes["digest"] == [None, "********"]
    assert entry.changes["callback_secret"] == [None, {"secret": "********"}]
    assert token.digest not in json.dumps(entry.changes)


def test_an_admin_change_is_via_admin(staff_client):
    job = make_job(name="nightly", schedule_type="cron", cron="0 3 * * *", timezone="UTC")
    data = job_form_data(admin=True, name="nightly", cron="0 4 * * *", timezone="UTC")
    answer = staff_client.post(f"/admin/scheduler/job/{job.pk}/change/", data)
    assert answer.status_code == 302, answer.content[:2000]
    [entry] = entries(object_type="scheduler.job", object_id=str(job.pk))
    assert (entry.actor, entry.via) == ("staff", "admin") and entry.changes["cron"] == ["0 3 * * *", "0 4 * * *"]


def test_an_api_write_is_the_tokens(settings):
    settings.VIGIA_API_RATE_PER_MINUTE = 0
    job = make_job(name="api-job")
    raw = tokens.create("deployer", scopes=["jobs:write"])[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    answer = Client().patch(f"/api/v1/jobs/{job.pk}", '{"timeout_seconds": 120}', "application/json", **auth)
    assert answer.status_code == 200, answer.content
    assert Client().post(f"/api/v1/jobs/{job.pk}/run", **auth).status_code in (200, 201, 202), answer.content
    found = [(e.actor, e.via, e.action) for e in entries(object_id=str(job.pk))]
    assert found == [("token:deployer", "api", "update"), ("token:deployer", "api", "run now")]
    assert entries(object_id=str(job.pk))[0].changes["timeout_seconds"] == [300, 120]


def test_a_command_is_recorded_as_the_command(tmp_path):
    path = tmp_path / "jobs.json"
    path.write_text(
        json.dumps([{"name": "imported", "kind": "noop", "schedule_type": "interval", "interval_seconds": 60}])
    )
    call_command("import_jobs", str(path), stdout=io.StringIO())
    [entry] = entries(object_type="scheduler.job")
    assert entry.actor == "command:import_jobs" and entry.via == "command" and entry.action == "create"
    assert entry.changes["name"] == [None, "imported"]


def test_the_engines_own_writes_record_nothing():
    job = make_job()
    run = services.run_now(job)
    execute_run(run.pk)
    assert Run.objects.get(pk=run.pk).status == Run.Status.SUCCEEDED
    with LoopbackServer() as site:
        site.respond("/tarefas", body=organizer.page((1, "Tarefa 1", "a")))
        source = organizer.make_source(site.url + "/tarefas")
        checks.check_source(Source.objects.get(pk=source.pk))
    assert Item.objects.filter(source=source).exists()
    assert entries() == []


def test_role_changes_are_recorded(staff_client, django_user_model):
    target = user_with_role(django_user_model, "maria", roles.VIEWER)
    AuditEntry.objects.all().delete()
    assert staff_client.post(f"/users/{target.pk}/role/", {"role": roles.OPERATOR}).status_code == 302
    changes = [e.changes for e in entries(object_type="auth.user", object_id=str(target.pk))]
    assert {"groups": [[], ["operator"]]} in changes and {"is_staff": [False, True]} in changes
    assert not any("password" in c and c["password"][1] != "********" for c in changes)


def test_a_viewer_and_an_operator_get_403_and_an_admin_the_page(viewer_client, operator_client, staff_client):
    assert viewer_client.get("/audit/").status_code == 403
    assert operator_client.get("/audit/").status_code == 403
    page = staff_client.get("/audit/")
    assert page.status_code == 200 and "Audit trail" in page.content.decode()


def test_the_page_filters_by_object_actor_via_and_date_and_escapes(staff_client):
    one, two = make_job(name="one"), make_job(name="two")
    with audit.acting(audit.Actor(via=audit.COMMAND, name="command:x")):
        audit.record(one, "pause", {"note": ["<b>old</b>", "<script>alert(1)</script>"]})
    with audit.acting(audit.Actor(via=audit.DASHBOARD, user=User.objects.get(username="staff"))):
        audit.record(two, "pause")
    old = audit.record  # an entry from last month
    with audit.acting(audit.Actor(via=audit.API, name="token:old")):
        entry = old(two, "run now")
    AuditEntry.objects.filter(pk=entry.pk).update(at=timezone.now() - timedelta(days=30))

    def shown(query):
        text = staff_client.get(f"/audit/?{query}").content.decode()
        return {name for name in ("command:x", "token:old", ">staff<") if name in text}

    assert shown("") == {"command:x", "token:old", ">staff<"}
    assert shown(f"type=scheduler.job&id={one.pk}") == {"command:x"}
    assert shown("actor=token:old") == {"token:old"}
    assert shown("via=dashboard") == {">staff<"}
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert "token:old" not in shown(f"since={since}")
    page = staff_client.get(f"/audit/?type=scheduler.job&id={one.pk}").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


def test_history_links_on_the_job_page_for_admins_only(staff_client, operator_client):
    job = make_job()
    link = f"/audit/?type=scheduler.job&amp;id={job.pk}"
    assert link in staff_client.get(f"/jobs/{job.pk}/").content.decode()
    assert link not in operator_client.get(f"/jobs/{job.pk}/").content.decode()


def test_the_retention_registry_prunes_old_entries(settings):
    job = make_job()
    with audit.acting(audit.Actor(via=audit.COMMAND, name="command:x")):
        old, new = audit.record(job, "pause"), audit.record(job, "resume")
    AuditEntry.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=400))
    assert "audit" in [p.name for p in retention.pruners()]
    result, failed = retention.prune_all()
    assert not failed and result["audit"]["deleted"] == 1
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [new.pk]


def test_the_admin_lists_entries_read_only(staff_client):
    job = make_job()
    with audit.acting(audit.Actor(via=audit.COMMAND, name="command:x")):
        entry = audit.record(job, "pause")
    assert staff_client.get("/admin/scheduler/auditentry/").status_code == 200
    assert staff_client.get("/admin/scheduler/auditentry/add/").status_code == 403
    assert staff_client.post(f"/admin/scheduler/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_tracked_labels_include_the_apps_models_and_the_watch_by_label():
    labels = audit.tracked_labels()
    for label in ("scheduler.job", "scrapers.source", "scrapers.monitoredperson", "channels_app.channel"):
        assert label in labels
    assert "channels_app.watch" in labels  # registered by label: whether or not the model exists yet
    assert Job._meta.label_lower in labels


def test_a_people_import_by_command_is_one_entry_with_its_counts(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("name,cpf_cnpj\nJosé da Silva,529.982.247-25\nMaria Souza,\n", encoding="utf-8")
    call_command("import_people", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    [entry] = entries(object_type="scrapers.monitoredperson")
    assert (entry.actor, entry.via, entry.action) == ("command:import_people", "command", "import")
    assert entry.changes == {"created": [None, 2], "updated": [None, 0]}
    assert entry.os_user == audit.command_actor("import_people").os_user  # who ran it at the shell


def test_record_values_masks_secrets_and_skips_what_did_not_change():
    job = make_job()
    with audit.acting(audit.Actor(via=audit.COMMAND, name="command:x")):
        entry = audit.record_values(
            job, {"secrets": {"A": "1"}, "timeout_seconds": 300}, {"secrets": {"A": "2"}, "timeout_seconds": 300}
        )
        assert audit.record_values(job, {"timeout_seconds": 300}, {"timeout_seconds": 300}) is None
    assert entry.changes == {"secrets": [{"A": "********"}, {"A": "********"}]}
    assert audit.record_values(job, {}, {"timeout_seconds": 1}) is None  # no one acting
