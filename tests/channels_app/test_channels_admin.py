"""The delivery admin: channels with write-only secrets, recipients, subscriptions, templates with a preview,
deliveries (read-only, "Retry"), API tokens (shown once, revoked) and API messages (cancelled)."""

import hashlib
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from channels_app import scheduled
from channels_app.models import (
    ApiToken,
    Channel,
    Delivery,
    Event,
    Message,
    MessageTemplate,
    Recipient,
    Subscription,
)
from scheduler.models import Job
from scrapers.models import Source

TOKEN = "s3cr3t-token-value"
CHANNELS = reverse("admin:channels_app_channel_changelist")
ADD_CHANNEL = reverse("admin:channels_app_channel_add")
RECIPIENTS = reverse("admin:channels_app_recipient_changelist")
ADD_RECIPIENT = reverse("admin:channels_app_recipient_add")
ADD_SUBSCRIPTION = reverse("admin:channels_app_subscription_add")
ADD_TEMPLATE = reverse("admin:channels_app_messagetemplate_add")
DELIVERIES = reverse("admin:channels_app_delivery_changelist")
TOKENS = reverse("admin:channels_app_apitoken_changelist")
ADD_TOKEN = reverse("admin:channels_app_apitoken_add")
MESSAGES = reverse("admin:channels_app_message_changelist")


def channel_form(**overrides):
    data = {
        "name": "WhatsApp",
        "kind": "wuzapi",
        "enabled": "on",
        "pace_per_minute": "30",
        "config": '{"base_url": "https://wuzapi.example.org"}',
        "secrets": f'{{"token": "{TOKEN}"}}',
        "_save": "Save",
    }
    return {key: value for key, value in {**data, **overrides}.items() if value is not None}


def change_url(obj):
    return reverse(f"admin:channels_app_{obj._meta.model_name}_change", args=[obj.pk])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client, url, action, objects):
    return client.post(url, {"action": action, "_selected_action": [obj.pk for obj in objects]}, follow=True)


def make_channel(name="WhatsApp", kind="outbox", **fields):
    return Channel.objects.create(name=name, kind=kind, **fields)


def make_delivery(recipient, status, key, **fields):
    event = Event.objects.create(topic="source:1", type="item.new", key=key, payload={})
    return Delivery.objects.create(event=event, recipient=recipient, status=status, body="hello", **fields)


# --- channels: secrets are write-only ---------------------------------------------------------------


def test_a_channels_token_is_stored_and_never_shown_back(db, admin_client):
    response = admin_client.post(ADD_CHANNEL, channel_form())

    assert response.status_code == 302, response.context["adminform"].form.errors
    channel = Channel.objects.get()
    assert channel.secrets == {"token": TOKEN} and channel.config == {"base_url": "https://wuzapi.example.org"}
    change_page = admin_client.get(change_url(channel)).content.decode()
    list_page = admin_client.get(CHANNELS).content.decode()
    history = admin_client.get(change_url(channel) + "history/").content.decode()
    for page in (change_page, list_page, history):
        assert TOKEN not in page
    assert "token: set" in change_page and "https://wuzapi.example.org" in change_page


def test_a_form_sent_back_with_errors_does_not_hold_the_token(db, admin_client):
    response = admin_client.post(ADD_CHANNEL, channel_form(config='{"base_url": "not a url"}'))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "config": ["base_url: Use an http:// or https:// address with a host."]
    }
    assert TOKEN not in response.content.decode()
    assert not Channel.objects.exists()


def test_editing_without_the_token_keeps_it_and_giving_one_replaces_it(db, admin_client):
    admin_client.post(ADD_CHANNEL, channel_form())
    channel = Channel.objects.get()

    response = admin_client.post(change_url(channel), channel_form(secrets="", pace_per_minute=""))
    assert response.status_code == 302, response.context["adminform"].form.errors
    channel.refresh_from_db()
    assert channel.secrets == {"token": TOKEN} and channel.pace_per_minute is None

    response = admin_client.post(change_url(channel), channel_form(secrets='{"token": "another-token"}'))
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.secrets == {"token": "another-token"}

    response = admin_client.post(change_url(channel), channel_form(secrets="", config='{"base_url": "x"}'))
    assert response.status_code == 200 and "another-token" not in response.content.decode()


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"config": '{"base_url": "ftp://wuzapi.example.org"}'}, "config", "base_url: Use an http:// or https://"),
        ({"secrets": ""}, "secrets", "token: This field is required."),
        (
            {"kind": "webhook", "config": '{"url": "https://example.org/h"}', "secrets": '{"secret": "short"}'},
            "secrets",
            "secret: Ensure this value has at least 16 characters",
        ),
        ({"kind": "pigeon"}, "kind", "Unknown kind 'pigeon'."),
    ],
)
def test_an_invalid_channel_shows_the_field_error_and_writes_nothing(db, admin_client, overrides, field, message):
    response = admin_client.post(ADD_CHANNEL, channel_form(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in error for error in errors[field]), errors
    assert TOKEN not in response.content.decode()
    assert not Channel.objects.exists()


def test_the_channel_list_counts_recipients_and_deliveries_sent_in_the_last_day(db, admin_client):
    busy, quiet = make_channel("Busy"), make_channel("Quiet")
    ana = Recipient.objects.create(channel=busy, address="ana")
    bia = Recipient.objects.create(channel=busy, address="bia")
    now = timezone.now()
    make_delivery(ana, "sent", "1", sent_at=now - timedelta(hours=1))
    make_delivery(bia, "sent", "2", sent_at=now - timedelta(hours=2))
    make_delivery(ana, "sent", "3", sent_at=now - timedelta(hours=30))  # too old
    make_delivery(bia, "failed", "4")

    rows = {c.name: (c.recipient_count, c.sent_count) for c in admin_client.get(CHANNELS).context["cl"].result_list}

    assert rows == {"Busy": (2, 2), "Quiet": (0, 0)}
    assert quiet.pk  # listed with zeros


# --- recipients, subscriptions, templates -----------------------------------------------------------


def test_a_recipient_is_normalized_by_its_channel_and_a_bad_one_refused(db, admin_client):
    channel = make_channel(kind="wuzapi", config={"base_url": "https://w.example.org"}, secrets={"token": TOKEN})
    form = {"channel": channel.pk, "label": "Equipe", "active": "on", "_save": "Save"}

    bad = admin_client.post(ADD_RECIPIENT, {**form, "address": "12-34"})
    assert "Include the country code" in bad.context["adminform"].form.errors["address"][0]
    assert not Recipient.objects.exists()

    assert admin_client.post(ADD_RECIPIENT, {**form, "address": "+55 11 98765-4321"}).status_code == 302
    assert Recipient.objects.get().address == "5511987654321"
    again = admin_client.post(ADD_RECIPIENT, {**form, "address": "5511987654321"})
    assert "already has the recipient" in again.context["adminform"].form.errors["address"][0]


def test_recipients_are_searched_and_filtered(db, admin_client):
    box, other = make_channel("Box"), make_channel("Other")
    Recipient.objects.create(channel=box, address="ana@example.org", label="Ana")
    Recipient.objects.create(channel=other, address="bia@example.org", label="Bia", active=False)

    def found(**query):
        return sorted(r.label for r in admin_client.get(RECIPIENTS, query).context["cl"].result_list)

    assert found(q="bia@") == ["Bia"] and found(q="ana") == ["Ana"]
    assert found(channel__id__exact=other.pk) == ["Bia"] and found(active__exact="1") == ["Ana"]


def test_a_subscription_with_a_bad_topic_is_refused(db, admin_client):
    recipient = Recipient.objects.create(channel=make_channel(), address="ana")
    form = {"recipient": recipient.pk, "event_types": ["item.new", "item.updated"], "_save": "Save"}

    bad = admin_client.post(ADD_SUBSCRIPTION, {**form, "topic": "source 12"})
    assert "topic" in bad.context["adminform"].form.errors and not Subscription.objects.exists()

    missing = admin_client.post(ADD_SUBSCRIPTION, {**form, "topic": "source:12"})
    assert missing.context["adminform"].form.errors == {"topic": ["Source #12 does not exist."]}
    assert not Subscription.objects.exists()

    source = Source.objects.create(name="Gincana 2026", kind="html", url="https://example.org/gincana")
    assert admin_client.post(ADD_SUBSCRIPTION, {**form, "topic": source.topic}).status_code == 302
    subscription = Subscription.objects.get()
    assert (subscription.topic, subscription.event_types) == (source.topic, ["item.new", "item.updated"])


def test_a_template_is_checked_and_its_change_page_shows_an_escaped_preview(db, admin_client):
    bad = admin_client.post(ADD_TEMPLATE, {"name": "item.new", "subject": "", "body": "{% if title %}", "_save": "S"})
    assert bad.context["adminform"].form.errors["body"][0].startswith("Template error:")
    assert not MessageTemplate.objects.exists()

    body = "<b>{{ title }}</b> {{ url }}"
    assert admin_client.post(ADD_TEMPLATE, {"name": "item.new", "subject": "", "body": body}).status_code == 302
    page = admin_client.get(change_url(MessageTemplate.objects.get())).content.decode()

    assert "&lt;b&gt;Edital nº 12/2026&lt;/b&gt; https://example.org/edital-12" in page
    assert "<b>Edital" not in page and "Diário Oficial: Edital nº 12/2026" in page


# --- deliveries: read-only, retried ------------------------------------------------------------------


def test_retry_revives_dead_and_failed_deliveries_and_queues_them(db, admin_client):
    recipient = Recipient.objects.create(channel=make_channel(), address="ana")
    dead = make_delivery(recipient, "dead", "1", attempts=6, error="HTTP 503")
    failed = make_delivery(recipient, "failed", "2", attempts=1, error="bad token")
    sent = make_delivery(recipient, "sent", "3", attempts=1)

    response = act(admin_client, DELIVERIES, "retry", [dead, failed, sent])

    assert "Queued 2 deliveries again." in messages_of(response)
    statuses = dict(Delivery.objects.values_list("pk", "status"))
    assert statuses == {dead.pk: "pending", failed.pk: "pending", sent.pk: "sent"}
    assert set(Delivery.objects.filter(status="pending").values_list("attempts", "error")) == {(0, "")}
    tasks = sorted(task.task["args"][0] for task in OrmQ.objects.all())
    assert tasks == sorted([dead.pk, failed.pk])


def test_deliveries_are_listed_filtered_and_read_only(db, admin_client):
    box, other = make_channel("Box"), make_channel("Other")
    failed = make_delivery(Recipient.objects.create(channel=box, address="ana"), "failed", "1", error="<b>no</b>")
    make_delivery(Recipient.objects.create(channel=other, address="bia"), "sent", "2", provider_id="wa-77")

    def found(**query):
        return sorted(d.recipient.address for d in admin_client.get(DELIVERIES, query).context["cl"].result_list)

    assert found() == ["ana", "bia"]
    assert found(status__exact="failed") == ["ana"] and found(recipient__channel__id__exact=other.pk) == ["bia"]
    assert found(q="wa-77") == ["bia"] and found(q="bia") == ["bia"] and found(event_type="item.new") == ["ana", "bia"]
    assert found(event_type="job.failed") == []
    listing = admin_client.get(DELIVERIES).content.decode()
    assert "&lt;b&gt;no&lt;/b&gt;" in listing and "<b>no</b>" not in listing
    detail = admin_client.get(change_url(failed)).content.decode()
    assert 'name="_save"' not in detail and "Failed (permanent error)" in detail
    assert admin_client.get(reverse("admin:channels_app_delivery_add")).status_code == 403


# --- API tokens -------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_digest_is_stored(db, admin_client):
    response = admin_client.post(ADD_TOKEN, {"name": "crm", "_save": "Save"}, follow=True)

    token = ApiToken.objects.get()
    (shown,) = [text for text in messages_of(response) if "cannot be shown again" in text]
    raw = shown.split(": ", 1)[1].split(" ")[0]
    assert raw.startswith("vig_") and raw.startswith(token.prefix) and len(raw) > 30
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest() != raw
    for page in (admin_client.get(TOKENS), admin_client.get(change_url(token))):
        assert raw not in page.content.decode() and "crm" in page.content.decode()
    duplicate = admin_client.post(ADD_TOKEN, {"name": "crm", "_save": "Save"})
    assert "name" in duplicate.context["adminform"].form.errors and ApiToken.objects.count() == 1


def test_revoke(db, admin_client):
    admin_client.post(ADD_TOKEN, {"name": "crm"})
    admin_client.post(ADD_TOKEN, {"name": "erp"})
    crm = ApiToken.objects.get(name="crm")

    response = act(admin_client, TOKENS, "revoke", [crm])

    assert "Revoked 1 token." in messages_of(response)
    revoked = dict(ApiToken.objects.values_list("name", "revoked_at"))
    assert revoked["crm"] is not None and revoked["erp"] is None


# --- API messages -----------------------------------------------------------------------------------


def test_cancel_stops_scheduled_messages_only(db, admin_client):
    channel = make_channel("Box")
    later = timezone.now() + timedelta(hours=1)
    waiting, _ = scheduled.create(scheduled.Request("crm", "a", "Box", "ana", body="hi", send_at=later))
    done, _ = scheduled.create(scheduled.Request("crm", "b", "Box", "bia", body="hi", send_at=later))
    Message.objects.filter(pk=done.pk).update(status="sent")

    response = act(admin_client, MESSAGES, "cancel", [waiting, done])

    assert "Cancelled 1 message. 1 already sending or done." in messages_of(response)
    assert dict(Message.objects.values_list("key", "status")) == {"a": "cancelled", "b": "sent"}
    assert not Job.objects.get(pk=waiting.job_id).enabled
    found = admin_client.get(MESSAGES, {"q": "crm", "status__exact": "cancelled"}).context["cl"].result_list
    assert [message.key for message in found] == ["a"] and channel.pk


# --- access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [CHANNELS, ADD_CHANNEL, RECIPIENTS, ADD_SUBSCRIPTION, ADD_TEMPLATE, DELIVERIES, TOKENS, MESSAGES]
)
def test_anonymous_users_are_sent_to_log_in(db, client, url):
    response = client.get(url)

    assert response.status_code == 302 and reverse("login") in response["Location"]  # the one login page
