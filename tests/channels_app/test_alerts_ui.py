"""The alerts on the dashboard and in the admin: the open alerts page, the alert panel of an object's page (its
state in words, acknowledge / silence / unsilence, its policy form with field errors), a recipient's quiet hours
and the Watch admin's actions. A viewer sees everything and changes nothing."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app import alerts
from channels_app.models import Channel, Recipient, Watch
from scrapers.models import MonitoredPerson, Source
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
ALERTS = reverse("channels_app:alerts")
ACT = reverse("channels_app:alert_act")
POLICY = reverse("channels_app:alert_policy")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
SINCE = datetime(2026, 12, 7, 14, 5, tzinfo=SAO_PAULO)


@pytest.fixture
def source(db):
    return Source.objects.create(name="Gincana 2026", kind="html", url="https://example.org/gincana")


@pytest.fixture
def failing_source(source):
    for _ in range(2):
        alerts.failed(f"source:{source.pk}", "HTTP 503 <b>from</b> example.org", name=source.name, now=SINCE)
    return Watch.objects.get(subject=f"source:{source.pk}")


@pytest.fixture
def job(db):
    return make_job(name="Nightly export")


@pytest.fixture
def alerting_job(job):
    for minutes in range(5):
        alerts.failed(f"job:{job.pk}", "boom", name=job.name, now=SINCE + timedelta(minutes=minutes))
    watch = Watch.objects.get(subject=f"job:{job.pk}")
    assert watch.state == Watch.State.ALERTING
    return watch


def state(watch):
    watch.refresh_from_db()
    return watch


# --- the open alerts page ------------------------------------------------------------------------------------


def test_open_alerts_lists_alerting_first_with_their_words_and_links(viewer_client, failing_source, alerting_job):
    body = viewer_client.get(ALERTS).content.decode()
    job_link = reverse("scheduler:job", args=[int(alerting_job.subject.split(":")[1])])
    source_link = reverse("scrapers:source", args=[int(failing_source.subject.split(":")[1])])
    assert f'<a href="{job_link}">Nightly export</a>' in body
    assert f'<a href="{source_link}">Gincana 2026</a>' in body
    assert body.index(job_link) < body.index(source_link)  # alerting first
    assert "Failing since 2026-12-07 14:05, 2 failures in a row" in body
    assert "Alerting since 2026-12-07 14:05, 5 failures in a row" in body
    assert "HTTP 503 &lt;b&gt;from&lt;/b&gt; example.org" in body  # escaped
    assert 'name="do" value="acknowledge"' not in body  # a viewer has no buttons
    assert "Alerts" in viewer_client.get(reverse("overview")).content.decode()  # the menu's link


def test_the_filter_shows_alerting_or_silenced_ones(operator_client, failing_source, alerting_job):
    assert "Gincana 2026" not in operator_client.get(ALERTS, {"show": "alerting"}).content.decode()
    assert "No open alerts." in operator_client.get(ALERTS, {"show": "silenced"}).content.decode()
    alerts.silence(failing_source, timezone.now() + timedelta(hours=1), "ana")
    body = operator_client.get(ALERTS, {"show": "silenced"}).content.decode()
    assert "Gincana 2026" in body and "Nightly export" not in body
    assert "silenced until" in body and "by ana" in body
    assert "Nightly export" in operator_client.get(ALERTS, {"show": "nonsense"}).content.decode()  # all


def test_an_operator_acknowledges_silences_and_unsilences(operator_client, alerting_job):
    subject = alerting_job.subject
    response = operator_client.post(ACT, {"subject": subject, "do": "acknowledge"})
    assert response.status_code == 302 and response.url == ALERTS
    watch = state(alerting_job)
    assert watch.acknowledged_by == "operator-user" and watch.next_reminder_at is None
    assert "acknowledged by operator-user" in operator_client.get(ALERTS).content.decode()

    before = timezone.now()
    body = operator_client.post(ACT, {"subject": subject, "do": "4h", "where": "list"}, **HTMX).content.decode()
    watch = state(alerting_job)
    assert before + timedelta(hours=4) <= watch.silenced_until <= timezone.now() + timedelta(hours=4)
    assert watch.silenced_by == "operator-user"
    assert 'id="alerts"' in body and "Silenced until" in body and 'value="unsilence"' in body

    until = (timezone.localtime() + timedelta(days=2)).replace(second=0, microsecond=0)
    operator_client.post(ACT, {"subject": subject, "do": "until", "until": until.strftime("%Y-%m-%dT%H:%M")})
    assert state(alerting_job).silenced_until == until

    operator_client.post(ACT, {"subject": subject, "do": "unsilence"})
    watch = state(alerting_job)
    assert watch.silenced_until is None and watch.silenced_by == ""


@pytest.mark.parametrize(
    "until, error",
    [("", "Choose until when."), ("2020-01-01T10:00", "Choose a moment in the future."), ("soon", "valid")],
)
def test_a_silence_until_a_bad_moment_changes_nothing(operator_client, alerting_job, until, error):
    body = operator_client.post(
        ACT, {"subject": alerting_job.subject, "do": "until", "until": until}, **HTMX
    ).content.decode()
    assert error in body
    assert state(alerting_job).silenced_until is None
    response = operator_client.post(ACT, {"subject": alerting_job.subject, "do": "until", "until": until}, follow=True)
    assert error in response.content.decode()  # as a message, without JS


def test_a_viewer_may_not_act(viewer_client, alerting_job):
    for data in ({"do": "acknowledge"}, {"do": "1d"}, {"do": "unsilence"}):
        assert viewer_client.post(ACT, {"subject": alerting_job.subject, **data}).status_code == 403
    watch = state(alerting_job)
    assert watch.acknowledged_at is None and watch.silenced_until is None
    assert viewer_client.post(POLICY, {"subject": alerting_job.subject, "alert_after": "2"}).status_code == 403
    assert state(alerting_job).alert_after is None


def test_acting_on_an_unknown_subject_is_404(operator_client):
    assert operator_client.post(ACT, {"subject": "source:999", "do": "1h"}).status_code == 404
    assert operator_client.post(ACT, {"subject": "nonsense", "do": "1h"}).status_code == 404
    assert operator_client.get(ACT).status_code == 405


def test_an_object_that_never_failed_can_be_silenced_ahead(operator_client, source):
    operator_client.post(ACT, {"subject": f"source:{source.pk}", "do": "1d", "where": "panel"})
    watch = Watch.objects.get(subject=f"source:{source.pk}")
    assert watch.state == Watch.State.OK and watch.silenced_until and watch.name == "Gincana 2026"


# --- the panel on an object's page ---------------------------------------------------------------------------


def panel_of(body):
    start = body.index('id="alerts-panel"')
    return body[start : body.index("</section>", start)]


def test_each_object_page_shows_its_alert_state(viewer_client, failing_source, alerting_job):
    source_page = viewer_client.get(reverse("scrapers:source", args=[failing_source.subject.split(":")[1]]))
    panel = panel_of(source_page.content.decode())
    assert "Failing since 2026-12-07 14:05, 2 failures in a row" in panel
    assert "Alert after 3 failures in a row (default)" in panel
    assert "<form" not in panel  # a viewer: no actions, no policy form
    job_page = viewer_client.get(reverse("scheduler:job", args=[alerting_job.subject.split(":")[1]]))
    assert "Alerting since 2026-12-07 14:05, 5 failures in a row" in panel_of(job_page.content.decode())
    person = MonitoredPerson.objects.create(name="Ana Souza")
    person_page = viewer_client.get(reverse("scrapers:person", args=[person.pk])).content.decode()
    assert "OK" in panel_of(person_page)
    channel = Channel.objects.create(name="Caixa", kind="outbox")
    channel_page = viewer_client.get(reverse("channels_app:channel", args=[channel.pk])).content.decode()
    assert "Alert after 3 failures in a row (default)" in panel_of(channel_page)


def test_an_operator_sees_the_actions_and_the_policy_form(operator_client, alerting_job, job):
    panel = panel_of(operator_client.get(reverse("scheduler:job", args=[job.pk])).content.decode())
    assert 'value="acknowledge"' in panel and 'value="1h"' in panel and 'name="until"' in panel
    assert 'placeholder="default: 1"' in panel
    assert 'name="expect_every"' in panel and 'name="expect_grace"' in panel  # jobs: the dead man's switch
    body = operator_client.post(ACT, {"subject": alerting_job.subject, "do": "1h", "where": "panel"}, **HTMX)
    assert 'id="alerts-panel"' in body.content.decode() and "Silenced until" in body.content.decode()
    response = operator_client.post(ACT, {"subject": alerting_job.subject, "do": "unsilence", "where": "panel"})
    assert response.url == reverse("scheduler:job", args=[job.pk]) + "#alerts-panel"


def test_the_policy_form_saves_the_policy_only(operator_client, failing_source):
    subject = failing_source.subject
    data = {"subject": subject, "alert_after": "5", "remind_every": "240", "notify_recovery": ""}
    body = operator_client.post(POLICY, data, **HTMX).content.decode()
    assert "Alert policy saved." in body
    watch = state(failing_source)
    assert (watch.alert_after, watch.remind_every, watch.notify_recovery) == (5, timedelta(hours=4), False)
    assert watch.state == Watch.State.FAILING and watch.failures == 2  # the state is untouched
    assert "Alert after 5 failures in a row · remind every 4 h" in body

    operator_client.post(POLICY, {"subject": subject, "remind_every": "other", "remind_minutes": "90"})
    watch = state(failing_source)
    assert watch.remind_every == timedelta(minutes=90) and watch.alert_after is None and not watch.notify_recovery
    page = operator_client.get(reverse("scrapers:source", args=[subject.split(":")[1]])).content.decode()
    assert 'name="remind_minutes" value="90"' in page.replace(' step="any"', "").replace(' inputmode="decimal"', "")


def test_the_dead_mans_switch_is_stored_on_the_job(operator_client, job):
    subject = f"job:{job.pk}"
    data = {"subject": subject, "notify_recovery": "on", "expect_every": "2", "expect_every_unit": "hours"}
    response = operator_client.post(POLICY, {**data, "expect_grace": "15", "expect_grace_unit": "minutes"})
    assert response.status_code == 302
    watch = Watch.objects.get(subject=subject)
    assert watch.expect_every == timedelta(hours=2) and watch.expect_grace == timedelta(minutes=15)
    assert watch.policy_set_at is not None and watch.state == Watch.State.OK and watch.name == "Nightly export"
    first = watch.policy_set_at - timedelta(days=1)
    Watch.objects.filter(pk=watch.pk).update(policy_set_at=first)
    operator_client.post(POLICY, {**data, "expect_grace": "30", "expect_grace_unit": "minutes"})
    assert state(watch).policy_set_at == first  # the period did not change: still counted from then
    operator_client.post(POLICY, {**data, "expect_every": "1", "expect_every_unit": "days"})
    assert state(watch).policy_set_at > first
    assert state(watch).expect_every == timedelta(days=1) and state(watch).expect_grace is None


def test_an_owned_job_has_no_policy_form(operator_client, source):
    owned = make_job(name="check Gincana", kind="noop")
    owned.__class__.objects.filter(pk=owned.pk).update(owner=f"source:{source.pk}")
    panel = panel_of(operator_client.get(reverse("scheduler:job", args=[owned.pk])).content.decode())
    assert 'name="alert_after"' not in panel
    assert operator_client.post(POLICY, {"subject": f"job:{owned.pk}", "alert_after": "2"}).status_code == 404
    assert not Watch.objects.filter(subject=f"job:{owned.pk}").exists()


@pytest.mark.parametrize(
    "fields, field, error",
    [
        ({"alert_after": "0"}, "alert_after", "greater than or equal to 1"),
        ({"alert_after": "1001"}, "alert_after", "less than or equal to 1000"),
        ({"alert_after": "three"}, "alert_after", "Enter a whole number."),
        ({"remind_every": "other", "remind_minutes": "0.5"}, "remind_minutes", "Choose at least one minute."),
        ({"remind_minutes": "600000"}, "remind_minutes", "Choose at most a year."),
        ({"remind_minutes": "soon"}, "remind_minutes", "Enter a number."),
        ({"remind_every": "other"}, "remind_minutes", "Type the minutes between reminders."),
        ({"remind_every": "7"}, "remind_every", "Select a valid choice."),
        ({"expect_every": "0", "expect_every_unit": "hours"}, "expect_every", "Choose at least one minute."),
        ({"expect_every": "400", "expect_every_unit": "days"}, "expect_every", "Choose at most a year."),
        ({"expect_every": "1", "expect_grace": "-5", "expect_grace_unit": "minutes"}, "expect_grace", "zero or more"),
        ({"expect_grace": "x"}, "expect_grace", "Enter a number."),
    ],
)
def test_nonsense_policies_get_field_errors_and_change_nothing(operator_client, alerting_job, fields, field, error):
    data = {"subject": alerting_job.subject, "notify_recovery": "on", "expect_every_unit": "hours"}
    data |= {"expect_grace_unit": "minutes", **fields}
    body = operator_client.post(POLICY, data, **HTMX).content.decode()
    assert f'id="id_{field}_error">' in body and error in body
    watch = state(alerting_job)
    assert (watch.alert_after, watch.remind_every, watch.expect_every, watch.expect_grace) == (None, None, None, None)
    response = operator_client.post(POLICY, data, follow=True)  # without JS: the error as a message
    assert error in response.content.decode()


def test_a_source_has_no_dead_mans_switch_and_its_default_is_three(operator_client, source):
    page = operator_client.get(reverse("scrapers:source", args=[source.pk])).content.decode()
    panel = panel_of(page)
    assert 'placeholder="default: 3"' in panel and 'name="expect_every"' not in panel
    operator_client.post(POLICY, {"subject": f"source:{source.pk}", "expect_every": "1", "alert_after": "4"})
    watch = Watch.objects.get(subject=f"source:{source.pk}")
    assert watch.alert_after == 4 and watch.expect_every is None


def test_a_policy_for_an_unknown_object_is_404(operator_client):
    for subject in ("source:999", "deadline:1", "system:no_leader", "job:x", ""):
        assert operator_client.post(POLICY, {"subject": subject, "alert_after": "2"}).status_code == 404
    assert not Watch.objects.exists()


# --- a recipient's quiet hours -----------------------------------------------------------------------------


@pytest.fixture
def outbox(db):
    return Channel.objects.create(name="Caixa", kind="outbox")


def recipient_data(outbox, **fields):
    return {"channel": outbox.pk, "address": "", "label": "Plantão", "active": "on", **fields}


def test_quiet_hours_are_saved_and_shown(staff_client, outbox):
    data = recipient_data(outbox, time_zone="America/Sao_Paulo", quiet_from="22:00", quiet_until="07:00")
    response = staff_client.post(reverse("channels_app:recipient_new", args=[outbox.pk]), data)
    assert response.status_code == 302
    recipient = Recipient.objects.get(label="Plantão")
    assert (recipient.time_zone, str(recipient.quiet_from), str(recipient.quiet_until)) == (
        "America/Sao_Paulo",
        "22:00:00",
        "07:00:00",
    )
    page = staff_client.get(reverse("channels_app:recipient", args=[recipient.pk])).content.decode()
    assert "Quiet 22:00–07:00 (America/Sao_Paulo)" in page


@pytest.mark.parametrize(
    "fields, field, error",
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Mars/Olympus_Mons"),
        ({"quiet_from": "22:00"}, "quiet_until", "both ends of the quiet hours, or neither"),
        ({"quiet_until": "07:00"}, "quiet_from", "both ends of the quiet hours, or neither"),
        ({"quiet_from": "07:00", "quiet_until": "07:00"}, "quiet_until", "another time"),
        ({"quiet_from": "25:00", "quiet_until": "07:00"}, "quiet_from", "Enter a valid time."),
    ],
)
def test_bad_quiet_hours_get_field_errors(staff_client, outbox, fields, field, error):
    body = staff_client.post(
        reverse("channels_app:recipient_new", args=[outbox.pk]), recipient_data(outbox, **fields), **HTMX
    ).content.decode()
    assert f'id="id_{field}_error">' in body and error in body
    assert not Recipient.objects.exists()


def test_the_admin_checks_quiet_hours_the_same_way(staff_client, outbox):
    recipient = Recipient.objects.create(channel=outbox, label="Plantão")
    url = reverse("admin:channels_app_recipient_change", args=[recipient.pk])
    data = recipient_data(outbox, time_zone="Nowhere/Land", quiet_from="22:00", _save="Save")
    body = staff_client.post(url, data).content.decode()
    assert "Nowhere/Land" in body and "both ends of the quiet hours, or neither" in body
    recipient.refresh_from_db()
    assert recipient.time_zone == "" and recipient.quiet_from is None


# --- the admin ---------------------------------------------------------------------------------------------------


def test_the_watch_admin_lists_and_acts(operator_client, failing_source, alerting_job):
    changelist = reverse("admin:channels_app_watch_changelist")
    body = operator_client.get(changelist).content.decode()
    assert "Nightly export" in body and "Gincana 2026" in body
    assert "Gincana 2026" not in operator_client.get(changelist, {"state__exact": "alerting"}).content.decode()
    selected = {"_selected_action": [alerting_job.pk, failing_source.pk]}
    operator_client.post(changelist, {"action": "acknowledge", **selected})
    assert state(alerting_job).acknowledged_by == "operator-user"
    operator_client.post(changelist, {"action": "silence_day", **selected})
    assert state(failing_source).silenced_until > timezone.now() + timedelta(hours=23)
    operator_client.post(changelist, {"action": "unsilence", **selected})
    assert state(failing_source).silenced_until is None
    operator_client.post(changelist, {"action": "silence_hour", **selected})
    assert state(alerting_job).silenced_until < timezone.now() + timedelta(minutes=61)


def test_the_watch_admin_edits_the_policy_only(operator_client, alerting_job):
    url = reverse("admin:channels_app_watch_change", args=[alerting_job.pk])
    page = operator_client.get(url).content.decode()
    assert 'name="alert_after"' in page and 'name="state"' not in page and 'name="failures"' not in page
    data = {"alert_after": "0", "remind_every": "00:00:30", "notify_recovery": "on", "expect_grace": "-1:00:00"}
    body = operator_client.post(url, {**data, "expect_every": "", "_save": "Save"}).content.decode()
    assert "greater than or equal to 1" in body and "Choose at least one minute." in body
    assert "zero or more" in body
    assert state(alerting_job).alert_after is None
    data = {"alert_after": "2", "remind_every": "01:00:00", "expect_every": "1 00:00:00", "expect_grace": ""}
    response = operator_client.post(url, {**data, "failures": "0", "state": "ok", "_save": "Save"})
    assert response.status_code == 302
    watch = state(alerting_job)
    assert (watch.alert_after, watch.remind_every, watch.expect_every) == (2, timedelta(hours=1), timedelta(days=1))
    assert watch.state == Watch.State.ALERTING and watch.failures == 5 and watch.policy_set_at is not None
    assert not watch.notify_recovery  # unticked


def test_a_viewer_cannot_use_the_watch_admin(viewer_client, alerting_job):
    changelist = reverse("admin:channels_app_watch_changelist")
    response = viewer_client.post(changelist, {"action": "acknowledge", "_selected_action": [alerting_job.pk]})
    assert response.status_code == 302 and "/login" in response.url  # not staff: no admin at all
    assert state(alerting_job).acknowledged_at is None


# --- the API -------------------------------------------------------------------------------------------------


def api(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}", "content_type": "application/json"}


@pytest.fixture
def writer(db):
    from channels_app import tokens

    return tokens.create("ops", scopes=["queue:write"])[1]


@pytest.fixture
def reader(db):
    from channels_app import tokens

    return tokens.create("look", scopes=["queue:read"])[1]


def test_the_api_lists_open_alerts(client, reader, failing_source, alerting_job):
    answer = client.get("/api/v1/alerts", **api(reader))
    assert answer.status_code == 200
    found = answer.json()["alerts"]
    assert [a["subject"] for a in found] == [alerting_job.subject, failing_source.subject]
    assert found[0]["state"] == "alerting" and found[0]["failures"] == 5 and found[0]["link"].startswith("/jobs/")
    assert found[1]["policy"] == {
        "alert_after": None,
        "alert_after_default": 3,
        "remind_every_minutes": None,
        "notify_recovery": True,
        "expect_every_minutes": None,
        "expect_grace_minutes": None,
    }
    assert [a["subject"] for a in client.get("/api/v1/alerts?state=alerting", **api(reader)).json()["alerts"]] == [
        alerting_job.subject
    ]


def test_the_api_acts_with_the_write_scope_only(client, reader, writer, alerting_job):
    import json

    body = json.dumps({"subject": alerting_job.subject})
    assert client.post("/api/v1/alerts/acknowledge", body, **api(reader)).status_code == 403
    assert state(alerting_job).acknowledged_at is None
    answer = client.post("/api/v1/alerts/acknowledge", body, **api(writer))
    assert answer.status_code == 200 and answer.json()["acknowledged_by"] == "api:ops"

    until = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    silence = json.dumps({"subject": alerting_job.subject, "until": until.isoformat()})
    answer = client.post("/api/v1/alerts/silence", silence, **api(writer))
    assert answer.status_code == 200 and state(alerting_job).silenced_until == until
    past = json.dumps({"subject": alerting_job.subject, "until": "2020-01-01T00:00:00Z"})
    answer = client.post("/api/v1/alerts/silence", past, **api(writer))
    assert answer.status_code == 422 and answer.json()["errors"]["until"] == ["Choose a moment in the future."]
    assert client.post("/api/v1/alerts/unsilence", body, **api(writer)).status_code == 200
    assert state(alerting_job).silenced_until is None
    unknown = json.dumps({"subject": "source:999"})
    assert client.post("/api/v1/alerts/unsilence", unknown, **api(writer)).status_code == 404


def test_the_api_sets_a_policy_with_the_dashboards_rules(client, writer, job, source):
    import json

    subject = f"job:{job.pk}"
    policy = {"subject": subject, "alert_after": 2, "remind_every_minutes": 60, "expect_every_minutes": 120}
    answer = client.put("/api/v1/alerts/policy", json.dumps(policy), **api(writer))
    assert answer.status_code == 200, answer.content
    watch = Watch.objects.get(subject=subject)
    assert (watch.alert_after, watch.remind_every, watch.expect_every) == (2, timedelta(hours=1), timedelta(hours=2))
    bad = {"subject": subject, "alert_after": 0, "remind_every_minutes": 0.5, "expect_grace_minutes": -1}
    answer = client.put("/api/v1/alerts/policy", json.dumps(bad), **api(writer))
    assert answer.status_code == 422
    assert set(answer.json()["errors"]) == {"alert_after", "remind_every_minutes", "expect_grace_minutes"}
    assert state(watch).alert_after == 2
    on_source = {"subject": f"source:{source.pk}", "expect_every_minutes": 60}
    assert client.put("/api/v1/alerts/policy", json.dumps(on_source), **api(writer)).status_code == 422
    missing = {"subject": "person:999"}
    assert client.put("/api/v1/alerts/policy", json.dumps(missing), **api(writer)).status_code == 404
