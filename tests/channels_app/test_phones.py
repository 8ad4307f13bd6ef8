"""WhatsApp addresses: a phone is stored and posted to Wuzapi as ASCII digits with its country code, however
it was typed (with or without '+', spaces, dashes, parentheses, Arabic-Indic or full-width digits), and is
checked against its country's numbering plan (for +55: area codes that exist, mobiles with the 9). Wuzapi
passes the Phone on as it is (wmiau.go parseJID), so anything else would reach nobody."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from channels_app import sending, tokens
from channels_app.events import publish
from channels_app.forms import RecipientForm, test_send
from channels_app.models import Delivery, Message, Recipient, Subscription
from scrapers.people.services import clean_recipient
from tests.channels_app.support import item_event, recipient

pytestmark = pytest.mark.django_db


def form(channel, address):
    return RecipientForm(data={"channel": channel.pk, "address": address, "label": "Ana", "active": "on"})


ACCEPTED = [
    ("+55 (11) 91234-5678", "5511912345678"),
    ("5511912345678", "5511912345678"),
    ("55 11 91234.5678", "5511912345678"),
    ("+٥٥ ١١ ٩١٢٣٤-٥٦٧٨", "5511912345678"),  # Arabic-Indic digits
    ("+۵۵ ۱۱ ۹۱۲۳۴-۵۶۷۸", "5511912345678"),  # Extended Arabic-Indic (Persian, Urdu)
    ("＋５５　１１　９１２３４－５６７８", None),  # full-width plus: not a '+' we know
    ("５５ １１ ９１２３４－５６７８", "5511912345678"),  # full-width digits, full-width hyphen (a dash)
    ("+55\u00a011\u00a091234\u20115678", "5511912345678"),  # no-break spaces and hyphen, as pasted
    ("+55 21 3123-4567", "552131234567"),  # a landline (WhatsApp Business)
    ("+1 415 555 2671", "14155552671"),
    ("+44 7911 123456", "447911123456"),
    ("120363025246125486@g.us", "120363025246125486@g.us"),
    ("5511987654321-1432123456@g.us", "5511987654321-1432123456@g.us"),  # an old-style group
]


@pytest.mark.parametrize(("typed", "stored"), [case for case in ACCEPTED if case[1]])
def test_a_whatsapp_address_is_stored_as_ascii_digits_with_its_country_code(channel, typed, stored):
    found = form(channel, typed)
    assert found.is_valid(), found.errors
    assert found.save().address == stored


REFUSED = [
    ("11 91234-5678", "'11 91234-5678' is not a phone number with country code. Include the country code, e.g. "),
    ("(11) 91234-5678", "Include the country code, e.g. +55 11 91234-5678."),
    ("91234-5678", "Include the country code"),
    ("+55 20 91234-5678", "is not a valid Brazilian number: check the area code (DDD)"),  # no DDD 20
    ("+55 11 8123-4567", "a mobile has 9 digits after the area code, starting with 9"),  # before the 9th digit
    ("+55 11 91234-567", "is not a valid Brazilian number"),
    ("+1 115 555 2671", "is not a valid phone number for the country code +1."),
    ("+55 11 9CALL-ME12", "is not a phone number: use digits, spaces and + - ( ) only"),  # no vanity letters
    ("+55 11 91234-5678 ramal 3", "use digits, spaces and + - ( ) only"),
    ("＋５５　１１　９１２３４－５６７８", "use digits, spaces and + - ( ) only"),
    ("5511912345678\x00", "Null characters are not allowed."),
    ("١٢٠٣٦٣٠٢٥٢٤٦١٢٥٤٨٦@g.us", "is not a WhatsApp group JID (ASCII digits, then @g.us"),
    ("5511912345678@s.whatsapp.net", "is not a WhatsApp group JID"),
    ("", "Give a phone number with country code (e.g. +55 11 91234-5678) or a group JID"),
    ("9" * 300, "is not a phone number with country code"),
]


@pytest.mark.parametrize(("typed", "message"), REFUSED)
def test_a_whatsapp_address_without_country_code_or_off_plan_is_a_field_error(channel, typed, message):
    found = form(channel, typed)
    assert not found.is_valid()
    assert message in found.errors["address"][0], found.errors
    assert not Recipient.objects.exists()


def test_the_message_goes_to_wuzapi_as_ascii_digits(channel, wuzapi):
    saved = form(channel, "+٥٥ (١١) ٩١٢٣٤-٥٦٧٨")
    assert saved.is_valid(), saved.errors
    person = saved.save()
    recipient(channel, "120363025246125486@g.us")
    Subscription.objects.create(recipient=person, topic="source:1")
    publish("source:1", item_event())
    for pk in Delivery.objects.values_list("pk", flat=True):
        assert sending.send_delivery(pk) == "sent"
    assert sorted(arrival.phone for arrival in wuzapi.messages.values()) == [
        "120363025246125486@g.us",
        "5511912345678",
    ]


def test_an_address_stored_before_with_other_digits_is_not_posted_and_the_delivery_says_why(channel, wuzapi):
    recipient(channel, "٥٥١١٩١٢٣٤٥٦٧٨")  # as the old check let it through
    publish("source:1", item_event())

    delivery = Delivery.objects.get()
    assert sending.send_delivery(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "non-ASCII characters" in delivery.error and "edit the recipient" in delivery.error
    assert not wuzapi.requests


def test_send_test_and_the_api_normalize_and_refuse_alike(channel, wuzapi):
    assert test_send(channel, "５５１１９１２３４５６７８").recipient.address == "5511912345678"
    with pytest.raises(ValidationError, match="Include the country code"):
        test_send(channel, "11 91234-5678")

    raw = tokens.create("crm")[1]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    def post(to, key):
        data = {"channel": channel.name, "to": to, "body": "Oi", "service": "crm", "key": key}
        return Client().post("/api/v1/messages", json.dumps(data), content_type="application/json", **headers)

    created = post("+٥٥ ١١ ٩١٢٣٤-٥٦٧٨", "a")
    assert created.status_code == 201 and created.json()["to"] == "5511912345678"
    refused = post("11 91234-5678", "b")
    assert refused.status_code == 422
    assert "Include the country code" in refused.json()["errors"]["to"][0]
    assert Message.objects.count() == 1


def test_the_people_import_reads_phones_the_same_way():
    assert clean_recipient(" +٥٥ ١١ ٩١٢٣٤-٥٦٧٨ ") == "5511912345678"
    assert clean_recipient("120363025246125486@g.us") == "120363025246125486@g.us"
    with pytest.raises(ValidationError, match="Include the country code"):
        clean_recipient("11 91234-5678")
    with pytest.raises(ValidationError, match="ASCII digits"):
        clean_recipient("١٢٠٣٦٣٠٢٥٢٤٦١٢٥٤٨٦@g.us")
