"""Every answer a real Wuzapi server can give to POST /chat/send/text, read from its source and from the
whatsmeow it is built with (channels_app/fake_wuzapi.py's ANSWERS names the file and line of each), given by
the loopback stand-in byte for byte, and what the operator sees for each: the delivery's status and error,
whether it is retried, whether the channel is reported down. Real HTTP on 127.0.0.1, nothing mocked."""

import logging
import re
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from channels_app import sending
from channels_app.events import publish
from channels_app.kinds import wuzapi as wuzapi_kind
from channels_app.kinds.base import Outgoing
from channels_app.models import Channel, Delivery
from scheduler.shared import answers
from tests.channels_app.support import item_event, recipient
from tests.loopback.server import LoopbackServer
from tests.loopback.wuzapi import ANSWERS

pytestmark = pytest.mark.django_db

FAILED, RETRYING = "failed", "retrying"
# situation -> (the delivery after one attempt, the outcome, words of Vigia's own in the error)
EXPECTED = {
    "unauthorized": (FAILED, "channel down", "does not know this token: unauthorized"),
    "database_error": (RETRYING, "transient", "Wuzapi could not send the message"),
    "no_session": (FAILED, "channel down", "no WhatsApp session for this token"),
    "bad_payload": (FAILED, "permanent", "Wuzapi refused the request"),
    "missing_phone": (FAILED, "permanent", "Wuzapi refused the request"),
    "missing_body": (FAILED, "permanent", "Wuzapi refused the request"),
    "bad_phone": (FAILED, "permanent", "could not read the address as a WhatsApp number"),
    "not_logged_in": (FAILED, "channel down", "the WhatsApp session is not logged in: scan the QR code"),
    "not_connected": (RETRYING, "transient", "Wuzapi is not connected to WhatsApp right now"),
    "not_connected_cached": (RETRYING, "transient", "Wuzapi is not connected to WhatsApp right now"),
    "not_connected_group": (RETRYING, "transient", "Wuzapi is not connected to WhatsApp right now"),
    "send_timeout": (RETRYING, "transient", "WhatsApp did not confirm in time"),
    "info_query_timeout": (RETRYING, "transient", "WhatsApp did not answer in time"),
    "disconnected": (RETRYING, "transient", "the connection to WhatsApp dropped"),
    "socket_closed": (RETRYING, "transient", "the connection to WhatsApp dropped"),
    "rate_overlimit": (RETRYING, "rate-limited", "WhatsApp asks to slow down"),
    "info_query_500": (RETRYING, "transient", "Wuzapi could not send the message"),
    "server_error_479": (RETRYING, "transient", "WhatsApp refused the message with error 479"),
    "server_error_463": (FAILED, "permanent", "WhatsApp refused the message with error 463"),
    "server_error_403": (FAILED, "permanent", "WhatsApp refused the message with error 403"),
    "group_not_found": (FAILED, "permanent", "the group does not exist"),
    "not_in_group": (FAILED, "permanent", "the WhatsApp number is not in the group"),
    "unknown_server": (FAILED, "permanent", "not a WhatsApp address"),
    "device_jid": (FAILED, "permanent", "not a WhatsApp address"),
}


@pytest.fixture
def downs():
    """(channel id, reason) of every channel_down signal sent during the test."""
    seen = []

    def listener(sender, channel, reason, **kwargs):
        seen.append((channel.pk, reason))

    sending.channel_down.connect(listener)
    yield seen
    sending.channel_down.disconnect(listener)


def one_delivery(channel, address="5511987654321"):
    recipient(channel, address)
    return Delivery.objects.get(event=publish("source:1", item_event()))


def attempt(delivery):
    outcome = sending.send_delivery(delivery.pk)
    delivery.refresh_from_db()
    return outcome


def make_due(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_every_answer_wuzapi_can_give_has_its_verdict():
    assert set(EXPECTED) == set(ANSWERS)


@pytest.mark.parametrize("situation", sorted(ANSWERS))
def test_what_the_operator_sees_for_each_wuzapi_answer(situation, channel, wuzapi, downs, caplog):
    status, outcome, words = EXPECTED[situation]
    wuzapi_status, wuzapi_text = ANSWERS[situation]
    delivery = one_delivery(channel)
    wuzapi.answer_next(situation)
    before = timezone.now()

    with caplog.at_level(logging.ERROR, logger="vigia.deliveries"):
        assert attempt(delivery) == status

    assert delivery.status == status and delivery.attempts == 1 and not wuzapi.messages
    assert words in delivery.error
    assert f"(HTTP {wuzapi_status}: {wuzapi_text})" in delivery.error  # Wuzapi's own words, verbatim
    assert wuzapi.token not in delivery.error
    reported = [record for record in caplog.records if record.getMessage().startswith("channel down")]
    if outcome == "channel down":
        assert delivery.error.startswith("channel down: ")
        assert downs == [(channel.pk, delivery.error.removeprefix("channel down: "))]
        assert len(reported) == 1 and reported[0].channel == channel.pk
    else:
        assert not downs and not reported and not delivery.error.startswith("channel down")
    if status == FAILED:  # recorded, never tried again
        make_due(delivery)
        assert sending.requeue_due() == 0 and sending.send_delivery(delivery.pk) == "not claimed"
        assert len(wuzapi.requests) == 1
    else:  # retried later with the same Id, and then it goes through
        floor = wuzapi_kind.RATE_WAIT if outcome == "rate-limited" else 0
        assert (delivery.next_attempt_at - before).total_seconds() >= floor
        make_due(delivery)
        assert attempt(delivery) == "sent"
        assert wuzapi.ids() == [delivery.idempotency_key] * 2


@pytest.mark.parametrize("situation", sorted(ANSWERS))
def test_the_kind_raises_the_outcome_of_each_answer(situation, wuzapi):
    _status, outcome, _words = EXPECTED[situation]
    wuzapi.answer_next(situation)
    with pytest.raises(Exception) as caught:
        send(wuzapi)
    assert answers.outcome(caught.value) == outcome


def send(fake, address="5511987654321", base_url=None, token=None):
    config = {"base_url": base_url or fake.url}
    message = Outgoing(key="vigia-7", subject="", text="Olá")
    return wuzapi_kind.Wuzapi().send(config, {"token": token or fake.token}, address, message)


# --- the stand-in answers exactly as Wuzapi does ---------------------------------------------------------


def raw_post(fake, body=b'{"Phone": "5511987654321", "Body": "Ol\\u00e1", "Id": "vigia-1"}', token=None, path=None):
    headers = {"Token": fake.token if token is None else token, "Content-Type": "application/json"}
    return httpx.post(fake.url + (path or "/chat/send/text"), content=body, headers=headers)


def test_the_stand_in_writes_wuzapis_bytes(wuzapi):
    sent = raw_post(wuzapi)
    assert sent.status_code == 200 and sent.headers["content-type"] == "application/json"
    assert re.fullmatch(
        rb'\{"code":200,"data":\{"Details":"Sent","Id":"vigia-1","Timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d'
        rb'(Z|[+-]\d\d:\d\d)"\},"success":true\}\n',
        sent.content,
    )

    wrong = raw_post(wuzapi, token="not-a-user")
    assert (wrong.status_code, wrong.content) == (401, b'{"code":401,"error":"Unauthorized","success":false}\n')

    wuzapi.session = "no_session"
    gone = raw_post(wuzapi, body=b"not json")  # the session is looked at before the body is read
    assert (gone.status_code, gone.content) == (500, b'{"code":500,"error":"No session","success":false}\n')
    assert gone.headers["content-type"] == "application/json"

    wuzapi.session = "connected"
    garbled = raw_post(wuzapi, body=b"not json")
    assert (garbled.status_code, garbled.content) == (
        400,
        b'{"code":400,"error":"Could not decode Payload","success":false}\n',
    )
    assert raw_post(wuzapi, body=b'{"Phone": "@g.us", "Body": "x"}').json()["error"] == "Could not parse Phone"

    elsewhere = raw_post(wuzapi, path="/api/chat/send/text")
    assert (elsewhere.status_code, elsewhere.content) == (404, b"404 page not found\n")
    assert elsewhere.headers["content-type"] == "text/plain; charset=utf-8"
    assert len(wuzapi.messages) == 1


def test_a_wrong_token_is_the_channel_down_before_anything_else(wuzapi, downs):
    channel = wuzapi_at(wuzapi.url, "revoked-token")
    wuzapi.session = "no_session"  # a wrong token is answered first, as authalice runs before the handler
    delivery = one_delivery(channel)
    assert attempt(delivery) == FAILED
    assert delivery.error == "channel down: Wuzapi does not know this token: unauthorized (HTTP 401: Unauthorized)"
    assert "revoked-token" not in delivery.error and downs[0][0] == channel.pk


# --- the session as a state: what the operator lives through ---------------------------------------------


def test_a_logged_out_phone_fails_every_delivery_at_once_until_it_is_connected_again(channel, wuzapi, downs):
    wuzapi.session = "no_session"
    for n in range(3):
        recipient(channel, f"55119876543{n:02d}")
    deliveries = list(Delivery.objects.filter(event=publish("source:1", item_event())).order_by("pk"))
    assert [attempt(delivery) for delivery in deliveries] == [FAILED] * 3
    assert len(wuzapi.requests) == 1  # not retried for half an hour, and no request at all once known down
    assert all(d.error.startswith("channel down: Wuzapi has no WhatsApp session") for d in deliveries)
    assert Channel.objects.get(pk=channel.pk).down_since
    assert len(downs) == 3
    for delivery in deliveries:
        make_due(delivery)
    assert sending.requeue_due() == 0

    wuzapi.session = "connected"  # the operator scanned the QR code, then retried them
    assert sending.revive(deliveries) == 3
    assert [attempt(delivery) for delivery in deliveries] == ["sent"] * 3
    assert len(wuzapi.messages) == 3


@pytest.mark.parametrize(
    ("session", "address", "said"),
    [
        ("not_logged_in", "5511987654321", ANSWERS["not_logged_in"][1]),
        ("not_logged_in", "120363025246125486@g.us", ANSWERS["not_logged_in"][1]),
    ],
)
def test_a_session_that_cannot_send_is_the_channel_down(session, address, said, channel, wuzapi, downs):
    wuzapi.session = session
    delivery = one_delivery(channel, address)
    assert attempt(delivery) == FAILED
    assert delivery.error.startswith("channel down: ") and f"(HTTP 500: {said})" in delivery.error
    assert [pk for pk, _reason in downs] == [channel.pk]


# --- what stands in front of Wuzapi, or is not Wuzapi at all ----------------------------------------------


def wuzapi_at(base_url, token="t0k3n"):
    return Channel.objects.create(
        name="whatsapp", kind="wuzapi", config={"base_url": base_url}, secrets={"token": token}
    )


def test_a_base_url_that_is_not_wuzapis_api_is_the_channel_down(wuzapi, downs):
    channel = wuzapi_at(wuzapi.url + "/api", wuzapi.token)
    delivery = one_delivery(channel)
    assert attempt(delivery) == FAILED
    assert delivery.error == (
        "channel down: the base URL does not lead to Wuzapi's API: /chat/send/text answered HTTP 404"
    )
    assert downs and not wuzapi.messages


def test_a_server_answering_200_without_wuzapis_json_is_the_channel_down(downs):
    with LoopbackServer() as server:
        server.respond("/chat/send/text", body="<html>welcome</html>", headers={"Content-Type": "text/html"})
        channel = wuzapi_at(server.url)
        delivery = one_delivery(channel)
        assert attempt(delivery) == FAILED
    assert delivery.error.startswith("channel down: the base URL does not lead to Wuzapi's API")
    assert downs


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_proxy_whose_wuzapi_is_down_is_transient(status, channel, wuzapi, downs):
    wuzapi.fail_next(status, body=b"<html>Bad Gateway</html>", headers={"Content-Type": "text/html"})
    delivery = one_delivery(channel)
    assert attempt(delivery) == RETRYING
    assert delivery.error == f"Wuzapi answered HTTP {status}" and not downs


def test_a_proxys_429_is_rate_limited_with_its_retry_after(channel, wuzapi):
    wuzapi.fail_next(429, body=b"slow down", headers={"Retry-After": "300", "Content-Type": "text/plain"})
    delivery = one_delivery(channel)
    before = timezone.now()
    assert attempt(delivery) == RETRYING
    assert (delivery.next_attempt_at - before).total_seconds() >= 300
    assert delivery.error == "Wuzapi answered HTTP 429"
