"""The channel forms (secrets write-only, settings validated by the kind), the recipient, subscription and
template forms, template previews, and test_send (one message, sent at once, to nobody else)."""

import logging

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Engine
from django_q.models import OrmQ

from channels_app import forms as channel_forms
from channels_app.forms import ChannelForm, MessageTemplateForm, RecipientForm, SubscriptionForm, test_send
from channels_app.models import Channel, Delivery, Event, MessageTemplate, Recipient, Subscription
from tests.loopback.server import LoopbackServer, closed_url

TOKEN = "s3cr3t-token-value"
HOOK_SECRET = "a-webhook-secret-of-32-characters"


def channel_data(**overrides):
    data = {
        "name": "WhatsApp",
        "kind": "wuzapi",
        "enabled": "on",
        "pace_per_minute": "",
        "config": '{"base_url": "https://wuzapi.example.org/"}',
        "secrets": f'{{"token": "{TOKEN}"}}',
    }
    return {key: value for key, value in {**data, **overrides}.items() if value is not None}


def make_channel(name="WhatsApp", kind="wuzapi", config=None, secrets=None, **fields):
    if config is None:
        config = {"base_url": "https://wuzapi.example.org"} if kind == "wuzapi" else {}
    if secrets is None:
        secrets = {"token": TOKEN} if kind == "wuzapi" else {}
    return Channel.objects.create(name=name, kind=kind, config=config, secrets=secrets, **fields)


def assert_hidden(form, secret):
    """Neither the page, the errors nor the repr of `form` show `secret`."""
    assert secret not in form.as_p()
    assert secret not in str(form.errors.as_data()) and secret not in form.errors.as_json()
    assert secret not in repr(form)


# --- ChannelForm ------------------------------------------------------------------------------------


def test_a_valid_channel_keeps_public_settings_in_config_and_the_token_in_secrets(db):
    form = ChannelForm(data=channel_data(pace_per_minute="20"))

    assert form.is_valid(), form.errors
    channel = form.save()

    channel.refresh_from_db()
    assert channel.config == {"base_url": "https://wuzapi.example.org"}  # cleaned by the kind: no trailing slash
    assert channel.secrets == {"token": TOKEN}
    assert (channel.kind, channel.pace_per_minute, channel.enabled) == ("wuzapi", 20, True)
    assert_hidden(ChannelForm(instance=channel), TOKEN)


def test_the_secret_is_not_rendered_back_when_the_form_has_errors(db):
    form = ChannelForm(data=channel_data(config='{"base_url": "not a url"}'))

    assert not form.is_valid()
    assert form.errors["config"] == ["base_url: Use an http:// or https:// address with a host."]
    assert_hidden(form, TOKEN)
    assert not Channel.objects.exists()


def test_an_edit_without_secrets_keeps_them_and_a_given_key_replaces_it(db):
    channel = make_channel(secrets={"token": TOKEN})

    other = '{"base_url": "https://other.example.org:9090"}'
    form = ChannelForm(data=channel_data(secrets="", config=other), instance=channel)
    assert form.is_valid(), form.errors
    form.save()
    channel.refresh_from_db()
    assert channel.secrets == {"token": TOKEN} and channel.config == {"base_url": "https://other.example.org:9090"}

    form = ChannelForm(data=channel_data(secrets='{"token": "new-token"}'), instance=channel)
    assert form.is_valid(), form.errors
    form.save()
    channel.refresh_from_db()
    assert channel.secrets == {"token": "new-token"}


def test_changing_the_kind_validates_against_the_new_kind_and_drops_the_old_secrets(db):
    channel = make_channel()
    webhook = {"kind": "webhook", "config": '{"url": "https://example.org/hook"}'}

    form = ChannelForm(data=channel_data(secrets="", **webhook), instance=channel)
    assert not form.is_valid()
    assert form.errors["secrets"] == ["secret: This field is required."]
    assert_hidden(form, TOKEN)

    form = ChannelForm(data=channel_data(secrets=f'{{"secret": "{HOOK_SECRET}"}}', **webhook), instance=channel)
    assert form.is_valid(), form.errors
    form.save()
    channel.refresh_from_db()
    assert (channel.kind, channel.config, channel.secrets) == (
        "webhook",
        {"url": "https://example.org/hook"},
        {"secret": HOOK_SECRET},
    )


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"config": '{"base_url": "ftp://wuzapi.example.org"}'}, "config", "base_url: Use an http:// or https://"),
        ({"config": '{"base_url": "nope"}'}, "config", "base_url: Use an http:// or https:// address with a host."),
        ({"config": "{}"}, "config", "base_url: This field is required."),
        ({"config": '{"base_url": "https://w.example.org", "colour": "red"}'}, "config", "Unknown setting: colour."),
        ({"config": "[1, 2]"}, "config", "The settings must be a JSON object."),
        ({"config": "{not json"}, "config", "Enter a valid JSON."),
        ({"secrets": ""}, "secrets", "token: This field is required."),
        ({"secrets": "{}"}, "secrets", "token: This field is required."),
        ({"secrets": '"just-a-string"'}, "secrets", "The secrets must be a JSON object."),
        ({"secrets": f'{{"token": "{TOKEN}", "password": "x"}}'}, "secrets", "Not a secret of this kind: password"),
        ({"kind": "carrier-pigeon"}, "kind", "Unknown kind 'carrier-pigeon'."),
        ({"pace_per_minute": "0"}, "pace_per_minute", "greater than or equal to 1"),
        ({"pace_per_minute": "6001"}, "pace_per_minute", "less than or equal to 6000"),
        (
            {"kind": "webhook", "config": '{"url": "https://example.org/hook"}', "secrets": '{"secret": "short"}'},
            "secrets",
            "secret: Ensure this value has at least 16 characters (it has 5).",
        ),
        ({"kind": "email", "config": '{"from_email": "not-an-address"}', "secrets": ""}, "config", "from_email:"),
    ],
)
def test_invalid_settings_are_field_errors_and_write_nothing(db, overrides, field, message):
    form = ChannelForm(data=channel_data(**overrides))

    assert not form.is_valid()
    assert any(message in error for error in form.errors[field]), form.errors
    assert_hidden(form, TOKEN)
    assert not Channel.objects.exists()


def test_a_secret_typed_into_the_public_settings_is_refused_and_not_shown_back(db):
    form = ChannelForm(data=channel_data(config=f'{{"base_url": "https://wuzapi.example.org", "token": "{TOKEN}"}}'))

    assert not form.is_valid()
    assert form.errors["config"] == ["Write-only, give it under secrets: token."]
    assert_hidden(form, TOKEN)
    assert "https://wuzapi.example.org" in form.as_p()  # the public part stays, to be corrected

    broken = ChannelForm(data=channel_data(config=f'{{"base_url": "https://wuzapi.example.org", "token": "{TOKEN}"'))
    assert broken.errors["config"] == ["Enter a valid JSON."]
    assert_hidden(broken, TOKEN)  # not even as invalid JSON


def test_secrets_never_reach_the_log_when_a_channel_is_saved(db, caplog):
    caplog.set_level(logging.DEBUG)

    ChannelForm(data=channel_data()).save()
    ChannelForm(data=channel_data(name="other", config='{"base_url": "bad"}')).is_valid()

    assert TOKEN not in caplog.text


def test_the_secrets_summary_names_the_keys_only(db):
    assert channel_forms.secrets_summary(make_channel()) == "token: set"
    assert channel_forms.secrets_summary(make_channel("hook", "webhook", {"url": "https://x"})) == "secret: not set"
    assert channel_forms.secrets_summary(make_channel("box", "outbox")) == "—"


# --- RecipientForm ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, address, stored",
    [
        ("wuzapi", "+55 (11) 98765-4321", "5511987654321"),
        ("wuzapi", "120363012345678901@g.us", "120363012345678901@g.us"),
        ("email", " Ana@Example.ORG ", "ana@example.org"),
        ("webhook", "", ""),
    ],
)
def test_a_recipient_address_is_normalized_by_the_channels_kind(db, kind, address, stored):
    config = {"url": "https://example.org/hook"} if kind == "webhook" else None
    channel = make_channel(kind=kind, config=config)

    form = RecipientForm(data={"channel": channel.pk, "address": address, "label": "Ana", "active": "on"})

    assert form.is_valid(), form.errors
    assert form.save().address == stored


@pytest.mark.parametrize(
    "kind, address, message",
    [
        ("wuzapi", "12345", "'12345' is not a phone number with country code. Include the country code"),
        ("wuzapi", "123@g.us", "'123@g.us' is not a WhatsApp group JID"),
        ("wuzapi", "", "Give a phone number with country code"),
        ("email", "ana@", "'ana@' is not a valid e-mail address."),
        ("webhook", "someone", "takes no address"),
    ],
)
def test_a_bad_recipient_address_is_a_field_error(db, kind, address, message):
    config = {"url": "https://example.org/hook"} if kind == "webhook" else None
    channel = make_channel(kind=kind, config=config)

    form = RecipientForm(data={"channel": channel.pk, "address": address, "active": "on"})

    assert not form.is_valid()
    assert any(message in error for error in form.errors["address"]), form.errors
    assert not Recipient.objects.exists()


def test_the_same_address_twice_on_a_channel_is_a_field_error_after_normalizing(db):
    channel = make_channel()
    Recipient.objects.create(channel=channel, address="5511987654321")
    other = make_channel("Other")

    form = RecipientForm(data={"channel": channel.pk, "address": "+55 11 98765-4321", "active": "on"})

    assert form.errors == {"address": ["WhatsApp already has the recipient '5511987654321'."]}
    assert RecipientForm(data={"channel": other.pk, "address": "5511987654321"}).is_valid()
    existing = Recipient.objects.get()
    edit = RecipientForm(data={"channel": channel.pk, "address": "5511987654321", "label": "Me"}, instance=existing)
    assert edit.is_valid(), edit.errors  # itself is no duplicate


# --- SubscriptionForm -------------------------------------------------------------------------------


@pytest.fixture
def someone(db):
    return Recipient.objects.create(channel=make_channel(), address="5511987654321")


@pytest.fixture
def objects(db):
    """A source and a job to name: a topic naming an object that does not exist is refused."""
    from scrapers.models import Source
    from tests.support.factories import make_job

    source = Source.objects.create(name="Gincana 2026", kind="html", url="https://example.org/gincana")
    return {"source": source.pk, "job": make_job().pk}


@pytest.mark.parametrize(
    ("topic", "event_type"),
    [
        ("*", "item.new"),
        ("source:{source}", "item.new"),
        ("job:{job}:failed", "job.failed"),
        ("job:*:failed", "job.failed"),
        ("source:*", "item.new"),
        ("sources:broken", "source.broken"),
        ("api:my-app.v2", "item.new"),  # another service's topic: nothing here knows its events
    ],
)
def test_valid_topics(someone, objects, topic, event_type):
    topic = topic.format(**objects)
    form = SubscriptionForm(data={"recipient": someone.pk, "topic": f" {topic} ", "event_types": [event_type]})

    assert form.is_valid(), form.errors
    subscription = form.save()
    assert (subscription.topic, subscription.event_types) == (topic, [event_type])


@pytest.mark.parametrize("topic", ["source", "source 12", "source:", ":12", "**", "source:<b>", "sourçe:1", ""])
def test_bad_topics_are_field_errors(someone, topic):
    form = SubscriptionForm(data={"recipient": someone.pk, "topic": topic})

    assert not form.is_valid() and "topic" in form.errors
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("source:99", "Source #99 does not exist."),
        ("job:99:failed", "Job #99 does not exist."),
        ("person:99", "Person #99 does not exist."),
        ("source:1*", "“source:1*” is not one of the topics offered."),
        ("sources:anything", "“sources:anything” is not one of the topics offered."),
    ],
)
def test_a_topic_naming_no_object_is_a_field_error(someone, topic, message):
    form = SubscriptionForm(data={"recipient": someone.pk, "topic": topic})

    assert form.errors == {"topic": [message]}
    assert not Subscription.objects.exists()


def test_no_event_type_means_all_and_an_unknown_one_is_refused(someone, objects):
    assert SubscriptionForm(data={"recipient": someone.pk, "topic": "*"}).save().event_types == []

    source = f"source:{objects['source']}"
    form = SubscriptionForm(data={"recipient": someone.pk, "topic": source, "event_types": ["item.gone"]})
    assert "event_types" in form.errors


def test_an_event_its_topic_never_publishes_is_refused_in_words(someone, objects):
    source = f"source:{objects['source']}"
    form = SubscriptionForm(data={"recipient": someone.pk, "topic": source, "event_types": ["publication.new"]})

    assert form.errors == {"event_types": ["Never published on Source: Gincana 2026: New publication."]}
    # One box may stand for two types; the stored list is flat.
    data = {
        "recipient": someone.pk,
        "topic": source,
        "event_types": ["item.new", "source.broken,source.still_broken,source.recovered"],
    }
    saved = SubscriptionForm(data=data).save()
    assert saved.event_types == ["item.new", "source.broken", "source.still_broken", "source.recovered"]


def test_a_repeated_topic_is_a_field_error_and_topics_are_offered(someone, objects):
    source = f"source:{objects['source']}"
    Subscription.objects.create(recipient=someone, topic=source)

    form = SubscriptionForm(data={"recipient": someone.pk, "topic": source})

    assert form.errors == {"topic": [f"{someone} is already subscribed to Source: Gincana 2026."]}
    page = SubscriptionForm().as_p()
    assert '<select name="topic"' in page and '<optgroup label="Sources">' in page
    assert '<option value="sources:broken">Any source broken or recovered</option>' in page
    assert f'<option value="{source}">Gincana 2026</option>' in page
    assert 'value="source.broken,source.still_broken,source.recovered"' in page and "Source broken or recovered" in page


def test_a_stored_topic_not_offered_stays_selected(someone):
    subscription = Subscription.objects.create(recipient=someone, topic="api:my-app", event_types=["item.new"])

    page = SubscriptionForm(instance=subscription).as_p()

    assert '<option value="api:my-app" selected>api:my-app</option>' in page
    assert 'value="item.new" id="id_event_types_0" checked' in page


# --- MessageTemplateForm and previews ---------------------------------------------------------------


@pytest.mark.parametrize(
    "field, source",
    [("body", "{% if title %}no end"), ("body", "{{ title|nosuchfilter }}"), ("subject", "{% for %}")],
)
def test_a_template_that_does_not_compile_is_a_field_error(db, field, source):
    data = {"name": "item.new", "subject": "", "body": "{{ title }}", field: source}

    form = MessageTemplateForm(data=data)

    assert not form.is_valid()
    assert form.errors[field][0].startswith("Template error:")
    assert not MessageTemplate.objects.exists()


def test_an_event_types_template_is_previewed_with_a_sample_event(db):
    form = MessageTemplateForm(data={"name": "item.new", "subject": "", "body": "Novo: {{ title }} ({{ url }})"})

    assert form.preview() == (
        "Diário Oficial: Edital nº 12/2026",
        "Novo: Edital nº 12/2026 (https://example.org/edital-12)",
    )


@pytest.mark.parametrize("event_type", channel_forms.rendering.EVENT_TYPES)
def test_the_sample_events_fill_every_field_of_the_default_wordings(event_type):
    # a field without a sample shows; the message filters (local_date) as the wordings' engine has them
    strict = Engine(autoescape=False, string_if_invalid="MISSING(%s)", builtins=channel_forms.rendering.BUILTINS)
    context = Context({"type": event_type, "topic": "sample:1", **channel_forms.rendering.SAMPLES[event_type]})

    for source in channel_forms.rendering.DEFAULTS[event_type]:
        assert "MISSING" not in strict.from_string(source).render(context)
    subject, text = channel_forms.preview(event_type, "", channel_forms.rendering.DEFAULTS[event_type][1])
    assert subject and text


def test_a_named_template_is_previewed_with_numbered_placeholders(db):
    form = MessageTemplateForm(data={"name": "reminder", "subject": "Hi {{1}}", "body": "Olá {{1}}, até {{ 2 }}."})

    assert form.preview() == ("Hi ⟨1⟩", "Olá ⟨1⟩, até ⟨2⟩.")
    saved = MessageTemplate.objects.create(name="zero", body="{{0}}")
    assert "parameter" in MessageTemplateForm(instance=saved).preview()[1]


# --- test_send --------------------------------------------------------------------------------------


def test_a_test_message_through_an_outbox_is_sent_at_once_to_that_address_only(db):
    channel = make_channel("Box", "outbox")
    subscriber = Recipient.objects.create(channel=channel, address="subscriber")
    Subscription.objects.create(recipient=subscriber, topic="*")

    delivery = test_send(channel, " Operator ")

    assert (delivery.status, delivery.provider_id, delivery.attempts) == ("sent", "outbox", 1)
    assert delivery.recipient.address == "Operator" and delivery.recipient.channel == channel
    assert channel.name in delivery.body
    event = Event.objects.get()
    assert (event.type, event.topic, event.key) == ("test", f"test:{channel.pk}", None)
    # "Operator" is no recipient: none is added, the outcome is on the event, and nobody else is told.
    assert event.payload == {
        "channel": "Box",
        "address": "Operator",
        "status": "sent",
        "error": "",
        "provider_id": "outbox",
    }
    assert not Delivery.objects.exists() and list(Recipient.objects.all()) == [subscriber]

    # To a recipient's address: an ordinary delivery to that recipient, and to no one else.
    again = test_send(channel, "subscriber")
    assert again.recipient == subscriber and again.status == "sent" and list(Delivery.objects.all()) == [again]


def test_a_bad_address_raises_and_writes_nothing(db):
    channel = make_channel()

    with pytest.raises(ValidationError, match="is not a phone number"):
        test_send(channel, "not-a-phone")

    assert not Recipient.objects.exists() and not Event.objects.exists() and not OrmQ.objects.exists()


def test_a_webhook_test_is_posted_signed_and_reported_sent(db):
    with LoopbackServer() as server:
        server.respond("/hook", status=200, body={"ok": True})
        channel = make_channel("Hook", "webhook", {"url": f"{server.url}/hook"}, {"secret": HOOK_SECRET})

        delivery = test_send(channel, "")

    assert delivery.status == "sent"
    (request,) = server.requests
    assert request.json()["type"] == "test" and request.headers["x-vigia-signature"].startswith("sha256=")


def test_an_unreachable_webhook_is_reported_with_its_error_and_retried_only_for_a_recipient(db):
    channel = make_channel("Hook", "webhook", {"url": f"{closed_url()}/hook"}, {"secret": HOOK_SECRET})

    delivery = test_send(channel, "")
    assert delivery.status == "failed" and "the webhook unreachable" in delivery.error  # to no recipient: once

    Recipient.objects.create(channel=channel, address="")
    delivery = test_send(channel, "")
    assert delivery.status == "retrying" and "the webhook unreachable" in delivery.error


def test_the_stored_secret_never_reaches_the_log_of_a_test_send(db, caplog):
    caplog.set_level(logging.DEBUG)
    with LoopbackServer() as server:
        server.respond("/chat/send/text", status=200, body={"success": True, "data": {"Id": "wa-1"}})
        channel = make_channel(config={"base_url": server.url})

        delivery = test_send(channel, "5511987654321")

    assert delivery.status == "sent" and delivery.provider_id == "wa-1"
    assert server.requests[0].headers["token"] == TOKEN  # it was used...
    assert caplog.records  # ...something was logged...
    logged = caplog.text + "".join(repr(vars(record)) for record in caplog.records)
    assert TOKEN not in logged  # ...and the token is nowhere in it
