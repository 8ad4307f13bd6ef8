"""The channel, recipient, subscription and template pages: who may see and change what, secrets that
never reach a response, inline field errors that save nothing, "send test" through a loopback Wuzapi,
and bounded query counts."""

import re

import pytest
from django.urls import reverse

from channels_app.models import Channel, Delivery, Event, MessageTemplate, Recipient, Subscription
from scrapers.models import Source
from tests.channels_app.support import recipient, wuzapi_channel
from tests.loopback.wuzapi import FakeWuzapi

SECRET = "very-secret-token-4242"
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(f"channels_app:{name}", args=args)


def make_channel(name="WhatsApp", **fields):
    fields.setdefault("kind", "wuzapi")
    fields.setdefault("config", {"base_url": "https://wuzapi.example.org"})
    fields.setdefault("secrets", {"token": SECRET})
    return Channel.objects.create(name=name, **fields)


def channel_data(**overrides):
    data = {
        "name": "WhatsApp",
        "kind": "wuzapi",
        "enabled": "on",
        "pace_per_minute": "",
        "config": '{"base_url": "https://wuzapi.example.org"}',
        "secrets": "",
    }
    return {**data, **overrides}


@pytest.fixture
def fake_wuzapi():
    with FakeWuzapi() as fake:
        yield fake


# --- who may do what -------------------------------------------------------------------------------


@pytest.fixture
def objects(db):
    channel = make_channel()
    person = recipient(channel, topics=["source:1"])
    template = MessageTemplate.objects.create(name="item.new", subject="{{ title }}", body="{{ body }}")
    return {"channel": channel, "recipient": person, "subscription": person.subscriptions.get(), "template": template}


def page_urls(objects):
    return [
        url("channels"),
        url("channel_new"),
        url("channel", objects["channel"].pk),
        url("recipient_new", objects["channel"].pk),
        url("recipient", objects["recipient"].pk),
        url("templates"),
        url("template_new"),
        url("template", objects["template"].pk),
    ]


def post_urls(objects):
    return [
        url("channel_new"),
        url("channel", objects["channel"].pk),
        url("channel_test", objects["channel"].pk),
        url("channel_retry_dead", objects["channel"].pk),
        url("recipient_new", objects["channel"].pk),
        url("recipient", objects["recipient"].pk),
        url("recipient_delete", objects["recipient"].pk),
        url("subscription_new", objects["recipient"].pk),
        url("subscription_delete", objects["subscription"].pk),
        url("template_new"),
        url("template", objects["template"].pk),
        url("template_preview"),
    ]


def test_anonymous_visitors_are_sent_to_the_login(client, objects):
    for page in page_urls(objects) + post_urls(objects):
        response = client.get(page)
        assert response.status_code == 302 and response.url.startswith(reverse("login")), page


def test_every_page_opens_for_a_viewer(viewer_client, objects):
    for page in page_urls(objects):
        assert viewer_client.get(page).status_code == 200, page


def test_a_viewer_may_not_change_anything(viewer_client, objects):
    for target in post_urls(objects):
        assert viewer_client.post(target, channel_data(name="Changed")).status_code == 403, target
    assert Channel.objects.get().name == "WhatsApp"
    assert Recipient.objects.count() == 1 and Subscription.objects.count() == 1
    assert not Delivery.objects.exists()


def test_a_viewer_sees_no_save_or_test_buttons(viewer_client, objects):
    body = viewer_client.get(url("channel", objects["channel"].pk)).content.decode()
    assert "Send test" not in body and 'type="submit">Save' not in body


def test_changes_are_posts(staff_client, objects):
    assert staff_client.get(url("channel_test", objects["channel"].pk)).status_code == 405
    assert staff_client.get(url("recipient_delete", objects["recipient"].pk)).status_code == 405
    assert staff_client.get(url("template_preview")).status_code == 405


def test_unknown_ids_are_404(staff_client, db):
    for target in [url("channel", 999), url("recipient_new", 999), url("recipient", 999), url("template", 999)]:
        assert staff_client.get(target).status_code == 404, target
    for target in [
        url("channel", 999),
        url("channel_test", 999),
        url("channel_retry_dead", 999),
        url("recipient", 999),
        url("recipient_delete", 999),
        url("subscription_new", 999),
        url("subscription_delete", 999),
        url("template", 999),
    ]:
        assert staff_client.post(target, {}).status_code == 404, target


# --- channels --------------------------------------------------------------------------------------


def test_the_list_shows_each_channel_with_recipients_and_recent_figures(staff_client, db):
    channel = make_channel(pace_per_minute=20)
    make_channel("Mail", kind="outbox", config={}, secrets={}, enabled=False)
    people = [Recipient.objects.create(channel=channel, address=f"55119876543{n:02d}") for n in range(3)]
    for n, status in enumerate(["sent", "sent", "dead"]):
        event = Event.objects.create(topic="source:1", type="item.new")
        Delivery.objects.create(event=event, recipient=people[n], status=status, body="x")

    body = staff_client.get(url("channels")).content.decode()

    assert "WhatsApp" in body and "Mail" in body and "disabled" in body and "20 a minute" in body
    whatsapp = Channel.objects.get(name="WhatsApp")
    row = body[body.index(url("channel", whatsapp.pk)) :].split("</tr>")[0]
    assert '<td class="num">3</td>' in row  # recipients
    assert f'?channel={whatsapp.pk}&amp;status=sent">2</a>' in row
    assert f'?channel={whatsapp.pk}">1</a>' in row  # failed or dead
    assert SECRET not in body


def test_the_list_does_not_query_per_channel(staff_client, django_assert_max_num_queries, db):
    for n in range(30):
        channel = make_channel(f"channel {n}")
        person = Recipient.objects.create(channel=channel, address="5511987654321")
        Delivery.objects.create(event=Event.objects.create(topic="t:1", type="test"), recipient=person, body="x")
    with django_assert_max_num_queries(7):  # + the role's permissions (scheduler.shared.roles)
        response = staff_client.get(url("channels"))
    assert response.content.decode().count("5511987654321") == 0 and "channel 29" in response.content.decode()


def test_the_channel_page_says_which_secrets_are_set_never_what_they_are(staff_client, db):
    channel = make_channel()
    body = staff_client.get(url("channel", channel.pk)).content.decode()
    token_label = r'<label for="id_config-token" title="token">[^<]+'
    assert re.search(token_label + '<span class="badge healthy">set</span></label>', body)
    assert SECRET not in body
    assert 'value="https://wuzapi.example.org"' in body  # public settings are shown, in their own inputs

    Channel.objects.filter(pk=channel.pk).update(secrets={})
    body = staff_client.get(url("channel", channel.pk)).content.decode()
    assert re.search(token_label + '<span class="badge broken">not set</span></label>', body)


def test_a_new_channel_is_created_and_htmx_is_sent_to_its_page(staff_client, db):
    data = channel_data(secrets=f'{{"token": "{SECRET}"}}', pace_per_minute="30")
    response = staff_client.post(url("channel_new"), data, **HTMX)

    channel = Channel.objects.get()
    assert response.status_code == 200 and response["HX-Redirect"] == url("channel", channel.pk)
    assert channel.secrets == {"token": SECRET} and channel.pace_per_minute == 30
    assert SECRET not in response.content.decode()
    assert SECRET not in staff_client.get(url("channel", channel.pk)).content.decode()


def test_a_plain_form_post_is_redirected(staff_client, db):
    response = staff_client.post(url("channel_new"), channel_data(secrets=f'{{"token": "{SECRET}"}}'))
    assert response.status_code == 302 and response.url == url("channel", Channel.objects.get().pk)


@pytest.mark.parametrize("htmx", [True, False])
def test_bad_settings_are_inline_errors_that_save_nothing_and_never_echo_the_secret(staff_client, db, htmx):
    channel = make_channel()
    data = channel_data(name="Renamed", config='{"base_url": "not a url"}', secrets='{"token": "typed-secret-777"}')

    response = staff_client.post(url("channel", channel.pk), data, **(HTMX if htmx else {}))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Use an http:// or https:// address with a host." in body
    assert 'class="field invalid"' in body
    assert SECRET not in body and "typed-secret-777" not in body
    assert ("<html" in body) is not htmx  # HTMX gets the form only
    assert 'value="Renamed"' in body  # what was typed is kept
    channel.refresh_from_db()
    assert channel.name == "WhatsApp" and channel.secrets == {"token": SECRET}


def test_a_secret_typed_into_the_public_settings_is_refused_and_not_shown_back(staff_client, db):
    channel = make_channel()
    data = channel_data(config=f'{{"base_url": "https://w.example.org", "token": "{SECRET}-new"}}')
    response = staff_client.post(url("channel", channel.pk), data, **HTMX)
    body = response.content.decode()
    assert "Write-only, give it under secrets: token." in body
    assert SECRET not in body
    channel.refresh_from_db()
    assert channel.config == {"base_url": "https://wuzapi.example.org"}


def test_an_edit_without_secrets_keeps_them_and_a_given_one_replaces_it(staff_client, db):
    channel = make_channel()
    staff_client.post(url("channel", channel.pk), channel_data(name="Team"), **HTMX)
    channel.refresh_from_db()
    assert channel.name == "Team" and channel.secrets == {"token": SECRET}

    staff_client.post(url("channel", channel.pk), channel_data(secrets='{"token": "new-one"}'), **HTMX)
    channel.refresh_from_db()
    assert channel.secrets == {"token": "new-one"}


def test_the_channel_page_queries_stay_bounded_with_many_recipients(staff_client, django_assert_max_num_queries, db):
    channel = make_channel()
    for n in range(30):
        person = recipient(channel, address=f"55119876543{n:02d}", topics=["source:1", "source:2"])
        event = Event.objects.create(topic="source:1", type="item.new")
        Delivery.objects.create(event=event, recipient=person, status="failed", error="nope", body="x")
    with django_assert_max_num_queries(12):
        body = staff_client.get(url("channel", channel.pk)).content.decode()
    assert body.count(url("recipient", person.pk)) == 1 and "5511987654329" in body


# --- send test -------------------------------------------------------------------------------------


def test_send_test_reaches_the_fake_wuzapi_and_says_so_inline(staff_client, fake_wuzapi, db):
    channel = wuzapi_channel(fake_wuzapi)
    response = staff_client.post(url("channel_test", channel.pk), {"address": "+55 11 98765-4321"}, **HTMX)

    body = response.content.decode()
    assert response.status_code == 200 and "Test message sent." in body and "<html" not in body
    (message,) = fake_wuzapi.wait_for_messages(1)
    assert message.phone == "5511987654321"
    # No recipient has that address: the test adds none, and is recorded on its event.
    event = Event.objects.get(type="test")
    assert event.payload["status"] == "sent" and message.id == f"vigia-test-{event.pk}"
    assert not Recipient.objects.exists() and not Delivery.objects.exists()
    assert fake_wuzapi.token not in body


def test_a_provider_error_is_shown_inline(staff_client, fake_wuzapi, db):
    channel = wuzapi_channel(fake_wuzapi)
    Channel.objects.filter(pk=channel.pk).update(secrets={"token": "wrong-token"})

    body = staff_client.post(url("channel_test", channel.pk), {"address": "5511987654321"}, **HTMX).content.decode()

    assert "Test message sent." not in body and "unauthorized" in body and "test-failed" in body
    assert "wrong-token" not in body
    assert Event.objects.get().payload["status"] == "failed" and not Delivery.objects.exists()


def test_a_bad_test_address_is_an_inline_error_and_sends_nothing(staff_client, fake_wuzapi, db):
    channel = wuzapi_channel(fake_wuzapi)
    body = staff_client.post(url("channel_test", channel.pk), {"address": "<b>12</b>"}, **HTMX).content.decode()
    assert "is not a phone number" in body and "&lt;b&gt;12&lt;/b&gt;" in body and "<b>12</b>" not in body
    assert not Delivery.objects.exists() and not fake_wuzapi.requests


def test_send_test_without_htmx_reports_through_a_message(staff_client, fake_wuzapi, db):
    channel = wuzapi_channel(fake_wuzapi)
    response = staff_client.post(url("channel_test", channel.pk), {"address": "5511987654321"}, follow=True)
    assert "Test message sent." in response.content.decode()
    assert len(fake_wuzapi.wait_for_messages(1)) == 1


def test_retry_all_dead_revives_only_this_channels_dead_deliveries(staff_client, db):
    channel, other = make_channel(), make_channel("Other")
    mine, theirs = Recipient.objects.create(channel=channel), Recipient.objects.create(channel=other)
    rows = {}
    for name, person, status in [("dead", mine, "dead"), ("sent", mine, "sent"), ("other", theirs, "dead")]:
        rows[name] = Delivery.objects.create(
            event=Event.objects.create(topic="t:1", type="test"), recipient=person, status=status, body="x"
        )
    response = staff_client.post(url("channel_retry_dead", channel.pk))
    assert response.status_code == 302
    statuses = {name: Delivery.objects.get(pk=row.pk).status for name, row in rows.items()}
    assert statuses == {"dead": "pending", "sent": "sent", "other": "dead"}


# --- recipients and subscriptions -------------------------------------------------------------------


def test_a_recipient_is_added_with_a_normalized_address(staff_client, db):
    channel = make_channel()
    assert "selected>WhatsApp" in staff_client.get(url("recipient_new", channel.pk)).content.decode()
    data = {"channel": channel.pk, "address": "+55 (11) 98765-4321", "label": "Ana", "active": "on"}
    response = staff_client.post(url("recipient_new", channel.pk), data, **HTMX)
    person = Recipient.objects.get()
    assert response["HX-Redirect"] == url("recipient", person.pk)
    assert (person.address, person.label, person.channel) == ("5511987654321", "Ana", channel)


def test_a_bad_address_is_an_inline_error_and_saves_nothing(staff_client, db):
    channel = make_channel()
    data = {"channel": channel.pk, "address": "<i>nope</i>", "label": "X"}
    response = staff_client.post(url("recipient_new", channel.pk), data, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "is not a phone number" in body and "<i>nope</i>" not in body
    assert 'id="recipient-form"' in body and "<html" not in body
    assert not Recipient.objects.exists()


def test_a_recipient_is_edited_and_deleted(staff_client, db):
    channel = make_channel()
    person = recipient(channel, address="5511987654321", label="Old")
    data = {"channel": channel.pk, "address": "5511987654321", "label": "New"}
    staff_client.post(url("recipient", person.pk), data)
    person.refresh_from_db()
    assert person.label == "New" and not person.active

    response = staff_client.post(url("recipient_delete", person.pk))
    assert response.status_code == 302 and response.url == url("channel", channel.pk)
    assert not Recipient.objects.exists() and not Subscription.objects.exists()


def test_the_recipient_page_lists_subscriptions_and_suggests_topics(staff_client, django_assert_max_num_queries, db):
    channel = make_channel()
    person = recipient(channel, topics=[f"source:{n}" for n in range(30)], event_types=["item.new"])
    # one query per family (sources, people, jobs, channels); + the role's permissions
    with django_assert_max_num_queries(11):
        body = staff_client.get(url("recipient", person.pk)).content.decode()
    assert "Source #29 (deleted)" in body and "New item" in body and "item.new" not in body.split("<select")[0]
    assert '<option value="job:*:failed">Any job failing</option>' in body  # from the topic registry


def test_a_subscription_is_added_for_the_pages_recipient(staff_client, db):
    channel = make_channel()
    person, other = recipient(channel, topics=[]), recipient(channel, address="5511900000000", topics=[])
    data = {"recipient": other.pk, "topic": "job:*:failed", "event_types": ["job.failed"]}
    response = staff_client.post(url("subscription_new", person.pk), data, **HTMX)
    assert response["HX-Redirect"] == url("recipient", person.pk)
    subscription = Subscription.objects.get()
    assert (subscription.recipient, subscription.topic, subscription.event_types) == (
        person,
        "job:*:failed",
        ["job.failed"],
    )


def test_a_bad_topic_is_an_inline_error_and_saves_nothing(staff_client, db):
    source = Source.objects.create(name="Gincana 2026", kind="html", url="https://example.org/gincana")
    person = recipient(make_channel(), topics=[source.topic])
    for topic, message in [
        ("not a topic<", "A topic is * or name:value"),
        (source.topic, "is already subscribed"),
        ("source:999", "Source #999 does not exist."),
    ]:
        response = staff_client.post(url("subscription_new", person.pk), {"topic": topic}, **HTMX)
        body = response.content.decode()
        assert response.status_code == 200 and message in body and 'id="subscription-form"' in body
        assert "not a topic<" not in body
    assert Subscription.objects.count() == 1


def test_a_subscription_is_removed(staff_client, db):
    person = recipient(make_channel(), topics=["source:1"])
    response = staff_client.post(url("subscription_delete", person.subscriptions.get().pk), **HTMX)
    assert response["HX-Redirect"] == url("recipient", person.pk)
    assert not Subscription.objects.exists()


# --- templates -------------------------------------------------------------------------------------


def test_the_template_list_shows_custom_and_built_in_wordings(viewer_client, db):
    MessageTemplate.objects.create(name="item.new", subject="<b>{{ title }}</b>", body="x")
    body = viewer_client.get(url("templates")).content.decode()
    assert "item.new" in body and "&lt;b&gt;{{ title }}&lt;/b&gt;" in body and "publication.new" in body


def test_a_template_starts_from_the_built_in_wording(staff_client, db):
    body = staff_client.get(url("template_new") + "?name=item.new").content.decode()
    assert "{{ source_name }}: {{ title }}" in body  # the form's subject
    assert "Diário Oficial: Edital nº 12/2026" in body  # its preview


def test_a_template_is_created_and_edited(staff_client, db):
    data = {"name": "lembrete", "subject": "Oi {{1}}", "body": "Consulta {{2}}"}
    response = staff_client.post(url("template_new"), data, **HTMX)
    template = MessageTemplate.objects.get()
    assert response["HX-Redirect"] == url("template", template.pk)
    body = staff_client.get(url("template", template.pk)).content.decode()
    assert "Oi ⟨1⟩" in body and "Consulta ⟨2⟩" in body

    staff_client.post(url("template", template.pk), {**data, "body": "Amanhã {{2}}"})
    template.refresh_from_db()
    assert template.body == "Amanhã {{2}}"


@pytest.mark.parametrize("htmx", [True, False])
def test_a_template_that_does_not_compile_is_an_inline_error_and_saves_nothing(staff_client, db, htmx):
    template = MessageTemplate.objects.create(name="item.new", subject="", body="{{ title }}")
    data = {"name": "item.new", "subject": "", "body": "{% if %}"}
    response = staff_client.post(url("template", template.pk), data, **(HTMX if htmx else {}))
    body = response.content.decode()
    assert response.status_code == 200 and "Template error" in body and 'class="field invalid"' in body
    template.refresh_from_db()
    assert template.body == "{{ title }}"


def test_the_preview_renders_what_is_typed_escaped(staff_client, db):
    data = {"name": "item.new", "subject": "<script>x</script>", "body": "{{ title }} <img src=x onerror=y>"}
    response = staff_client.post(url("template_preview"), data, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "Edital nº 12/2026 &lt;img src=x onerror=y&gt;" in body
    assert "&lt;script&gt;x&lt;/script&gt;" in body and "<script>" not in body


def test_the_preview_of_a_taken_name_or_a_bad_body(staff_client, db):
    template = MessageTemplate.objects.create(name="lembrete", body="x")
    data = {"name": "lembrete", "subject": "", "body": "Oi {{1}}"}
    assert "Oi ⟨1⟩" in staff_client.post(url("template_preview"), data).content.decode()  # new, name taken
    with_id = {**data, "template_id": template.pk}
    assert "Oi ⟨1⟩" in staff_client.post(url("template_preview"), with_id).content.decode()
    bad = staff_client.post(url("template_preview"), {**data, "body": "{% for %}"}).content.decode()
    assert "Template error" in bad


def test_a_test_address_with_nul_is_refused_for_a_free_text_kind(staff_client, db):
    # The outbox takes any label as its address; NUL is no text a database stores (a 500 on PostgreSQL).
    channel = Channel.objects.create(name="caixa", kind="outbox")
    body = staff_client.post(url("channel_test", channel.pk), {"address": "a\x00b"}, **HTMX).content.decode()
    assert "Null characters are not allowed." in body and 'id="id_address_error"' in body
    assert not Delivery.objects.exists() and not Recipient.objects.exists() and not Event.objects.exists()


@pytest.mark.parametrize("template_id", ["abc", "99999999999999999999999", "-1", "١"])
def test_the_template_preview_takes_a_tampered_template_id_for_a_new_template(staff_client, db, template_id):
    data = {"template_id": template_id, "name": "item.new", "subject": "", "body": "Nova: {{ title }}"}
    response = staff_client.post(url("template_preview"), data, **HTMX)
    assert response.status_code == 200 and "Nova:" in response.content.decode()
    assert not MessageTemplate.objects.exists()
