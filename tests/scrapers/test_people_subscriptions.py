"""A person's recipients become subscriptions to `person:<id>`, so a new publication reaches them."""

import pytest

from channels_app.models import Channel, Delivery, Recipient, Subscription
from scrapers.people import publications
from tests.scrapers.people_support import days_ago, djen_fixture, make_person  # noqa: F401

pytestmark = pytest.mark.django_db
WHATSAPP = {"base_url": "http://127.0.0.1:9"}


def channels():
    whatsapp = Channel.objects.create(name="whatsapp", kind="wuzapi", config=WHATSAPP, secrets={"token": "t"})
    email = Channel.objects.create(name="email", kind="email")
    return whatsapp, email


def subscribed(person):
    return {
        (s.recipient.channel.name, s.recipient.address)
        for s in Subscription.objects.filter(topic=person.topic).select_related("recipient__channel")
    }


def test_recipients_are_subscribed_through_the_channel_of_their_kind(djen):
    channels()
    person = make_person(recipients="5511987654321, 120363025246125486@g.us, Escritorio@Example.com")

    assert subscribed(person) == {
        ("whatsapp", "5511987654321"),
        ("whatsapp", "120363025246125486@g.us"),
        ("email", "escritorio@example.com"),
    }


def test_a_new_publication_is_delivered_to_each_recipient_in_words_a_lawyer_reads(djen):
    channels()
    djen.add(recipients=["JOSÉ DA SILVA"], tribunal="TJSP", day=days_ago(1), process="00012345620248260100")
    person = make_person(recipients="5511987654321, escritorio@example.com")

    publications.check_person(person)

    deliveries = Delivery.objects.select_related("recipient__channel").order_by("recipient__channel__name")
    assert [d.recipient.channel.name for d in deliveries] == ["email", "whatsapp"]
    body = deliveries[0].body
    assert "José da Silva" in body and "TJSP" in body and "0001234-56.2024.8.26.0100" in body


def test_editing_the_list_drops_only_the_removed_addresses_and_keeps_an_operators_own_subscription(djen):
    whatsapp, _ = channels()
    person = make_person(recipients="5511987654321, escritorio@example.com")
    office = Recipient.objects.create(channel=whatsapp, address="120363000000000001@g.us")
    Subscription.objects.create(recipient=office, topic=person.topic)  # made by an operator in the admin

    from scrapers.people.services import PersonForm

    form = PersonForm(
        data={"name": person.name, "check_interval_minutes": 30, "active": True, "recipients": "5511987654321"},
        instance=person,
    )
    assert form.is_valid(), form.errors
    form.save()

    assert subscribed(person) == {("whatsapp", "5511987654321"), ("whatsapp", "120363000000000001@g.us")}


def test_an_address_without_a_channel_of_its_kind_is_skipped_until_one_exists(djen):
    Channel.objects.create(name="whatsapp", kind="wuzapi", config=WHATSAPP, secrets={"token": "t"})
    person = make_person(recipients="5511987654321, escritorio@example.com")

    assert subscribed(person) == {("whatsapp", "5511987654321")}
    person.delete()
    assert not Subscription.objects.exists()  # a deleted person leaves no subscription behind
