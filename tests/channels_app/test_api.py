"""The HTTP API (/api/v1/): bearer tokens instead of the session login, messages created once per
(service, key) with every error reported by field and nothing queued, status and cancel per token, the
OpenAPI document, and a message's whole life in-process (job → delivery → status → callback)."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from channels_app import callbacks, sending, tokens
from channels_app.kinds import base as kinds
from channels_app.models import Callback, Channel, Delivery, Event, Message, MessageTemplate
from scheduler import execution, services
from scheduler.models import Job, Run
from tests.loopback.server import LoopbackServer

pytestmark = pytest.mark.django_db

MESSAGES = "/api/v1/messages"


def later(**delta):
    return (timezone.now() + timedelta(**(delta or {"hours": 2}))).isoformat()


@pytest.fixture
def raw_token():
    return tokens.create("crm")[1]


@pytest.fixture
def other_token():
    return tokens.create("billing")[1]


@pytest.fixture
def outbox():
    return Channel.objects.create(name="avisos", kind="outbox")


@pytest.fixture
def whatsapp():
    return Channel.objects.create(
        name="whats", kind="wuzapi", config={"base_url": "http://127.0.0.1:9"}, secrets={"token": "t"}
    )


@pytest.fixture
def email():
    return Channel.objects.create(name="mail", kind="email")


@pytest.fixture
def lembrete():
    return MessageTemplate.objects.create(name="lembrete", body="Olá {{1}}, sua consulta é às {{2}}")


@pytest.fixture
def callback():
    with LoopbackServer() as server:
        server.respond("/status", status=204)
        yield server


def tell_callbacks():
    """What the queue's workers would do: send every callback waiting to go (channels_app.callbacks)."""
    for pk in Callback.objects.filter(status=Callback.Status.PENDING).values_list("pk", flat=True):
        callbacks.send(pk)


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def post(client, raw, data, **extra):
    return client.post(MESSAGES, json.dumps(data), content_type="application/json", **auth(raw), **extra)


def get(client, raw, pk):
    return client.get(f"{MESSAGES}/{pk}", **auth(raw))


def delete(client, raw, pk):
    return client.delete(f"{MESSAGES}/{pk}", **auth(raw))


def request_data(**overrides):
    """A valid request for the outbox channel; an override of None leaves the field out."""
    data = {"channel": "avisos", "to": "Ana", "body": "Sua consulta é amanhã.", "service": "crm", "key": "c-1"}
    return {key: value for key, value in {**data, **overrides}.items() if value is not None}


def nothing_written():
    return (
        Message.objects.count(),
        Job.objects.filter(kind="send_message").count(),
        Run.objects.count(),
        Event.objects.count(),
        Delivery.objects.count(),
        OrmQ.objects.count(),
    ) == (0, 0, 0, 0, 0, 0)


def invalid_fields(response, status=422):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["detail"] == "Invalid request."
    assert all(isinstance(messages, list) and messages for messages in body["errors"].values())
    return body["errors"]


# --- Creating ------------------------------------------------------------------------------------------
def test_create_then_repeat_the_same_service_and_key(client, raw_token, outbox):
    send_at = later(days=1)
    first = post(client, raw_token, request_data(send_at=send_at))
    assert first.status_code == 201, first.content
    status = first.json()
    assert status["status"] == "scheduled"
    assert (status["service"], status["key"], status["channel"], status["to"]) == ("crm", "c-1", "avisos", "Ana")
    assert status["sent_at"] is None and status["attempts"] == 0 and status["error"] == ""

    again = post(client, raw_token, request_data(send_at=send_at, body="Other words, same key."))
    assert again.status_code == 200
    assert again.json() == status
    message = Message.objects.get()
    assert message.pk == status["id"] and message.body == "Sua consulta é amanhã."
    assert message.token.name == "crm"
    job = Job.objects.get(kind="send_message")
    assert message.job == job and job.params == {"message_id": message.pk}
    assert job.next_run_at == message.send_at
    assert not Run.objects.exists()  # the scheduler queues it at send_at, not the request


def test_create_with_a_named_template(client, raw_token, outbox, lembrete):
    response = post(client, raw_token, request_data(body=None, template="lembrete", params=["Ana", 14]))
    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.template, message.params, message.body) == ("lembrete", ["Ana", 14], "")

    run = services.run_now(message.job)
    assert execution.execute_run(run.id) == Run.Status.SUCCEEDED
    assert Delivery.objects.get().body == "Olá Ana, sua consulta é às 14"


def test_addresses_are_normalized_and_accepted(client, raw_token, whatsapp, email):
    phone = post(client, raw_token, request_data(channel="whats", to="+55 (11) 98765-4321", key="p"))
    group = post(client, raw_token, request_data(channel="whats", to="120363025246125486@g.us", key="g"))
    mail = post(client, raw_token, request_data(channel="mail", to="Ana@Example.com", key="m"))
    assert [r.status_code for r in (phone, group, mail)] == [201, 201, 201]
    assert [r.json()["to"] for r in (phone, group, mail)] == [
        "5511987654321",
        "120363025246125486@g.us",
        "ana@example.com",
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"body": None, "template": "lembrete", "params": ["Ana"]}, "params"),
        ({"body": None, "template": "lembrete"}, "params"),
        ({"body": None, "template": "nope", "params": []}, "template"),
        ({"template": "lembrete", "params": ["Ana", "14h"]}, "body"),  # both body and template
        ({"body": None}, "body"),  # neither
        ({"body": ""}, "body"),
        ({"channel": "nope"}, "channel"),
        ({"channel": "off"}, "channel"),
        ({"channel": "whats", "to": "12345"}, "to"),
        ({"channel": "whats", "to": "not-a-group@g.us"}, "to"),
        ({"channel": "whats", "to": None}, "to"),
        ({"channel": "mail", "to": "ana.example.com"}, "to"),
        ({"send_at": "2030-01-01T10:00:00"}, "send_at"),  # no offset
        ({"send_at": "tomorrow at ten"}, "send_at"),
        ({"send_at": "2020-01-01T10:00:00-03:00"}, "send_at"),  # in the past
        ({"callback_url": "ftp://example.com/status"}, "callback_url"),
        ({"callback_url": "http://example.com/" + "x" * 2000}, "callback_url"),
        ({"service": None}, "service"),  # missing
        ({"service": "   "}, "service"),  # blank
        ({"key": "k" * 201}, "key"),
        ({"body": 123}, "body"),  # wrong types
        ({"channel": 7}, "channel"),
        ({"body": None, "template": "lembrete", "params": "Ana, 14h"}, "params"),
        ({"body": None, "template": "lembrete", "params": ["Ana", {"h": 14}]}, "params"),
        ({"bdy": "typo"}, "bdy"),  # unknown field
    ],
)
def test_invalid_requests_are_422_by_field_and_queue_nothing(
    client, raw_token, outbox, whatsapp, email, lembrete, overrides, field
):
    Channel.objects.create(name="off", kind="outbox", enabled=False)
    errors = invalid_fields(post(client, raw_token, request_data(**overrides)))
    assert field in errors, errors
    assert nothing_written()


def test_several_errors_are_reported_together(client, raw_token, whatsapp):
    errors = invalid_fields(post(client, raw_token, request_data(channel="whats", to="1", send_at="soon")))
    assert set(errors) == {"to", "send_at"}
    errors = invalid_fields(post(client, raw_token, {"channel": "whats", "params": [None]}))
    assert set(errors) == {"service", "key", "params"}
    assert errors["service"] == ["Required."]
    assert errors["params"] == ["params[0]: Each parameter is a text or a number."]


def test_a_body_over_the_limit_of_a_channel_that_cannot_split(client, raw_token, email, monkeypatch):
    """E-mail has no limit; give it one (e-mail does not split) to see the check through the API."""
    monkeypatch.setattr(kinds.get("email"), "max_length", 20)
    errors = invalid_fields(post(client, raw_token, request_data(channel="mail", to="a@example.com", body="x" * 21)))
    assert list(errors) == ["body"] and "20" in errors["body"][0]
    assert nothing_written()
    fits = post(client, raw_token, request_data(channel="mail", to="a@example.com", body="x" * 20))
    assert fits.status_code == 201


def test_a_long_text_for_a_channel_that_splits_is_accepted(client, raw_token, whatsapp):
    response = post(client, raw_token, request_data(channel="whats", to="5511987654321", body="x" * 10_000))
    assert response.status_code == 201


@pytest.mark.parametrize("content", ['{"channel": "avisos",', "not json", b"\xff\xfe{}"])
def test_malformed_json_is_400_in_the_same_shape(client, raw_token, outbox, content):
    response = client.post(MESSAGES, content, content_type="application/json", **auth(raw_token))
    errors = invalid_fields(response, status=400)
    assert list(errors) == ["body"]
    assert nothing_written()


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', ""])
def test_a_body_that_is_not_a_json_object_is_422(client, raw_token, outbox, content):
    response = client.post(MESSAGES, content, content_type="application/json", **auth(raw_token))
    assert invalid_fields(response) == {"body": ["Send a JSON object."]}
    assert nothing_written()


# --- Authentication ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header",
    [None, "", "Basic Y3JtOnNlY3JldA==", "Bearer", "Bearer   ", "Token {raw}", "Bearer vig_not-a-token", "{raw}"],
)
def test_requests_without_a_valid_bearer_token_are_401(client, raw_token, outbox, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header.format(raw=raw_token)}
    message = Message.objects.create(service="s", key="k", channel=outbox, send_at=timezone.now())
    responses = [
        client.post(MESSAGES, json.dumps(request_data()), content_type="application/json", **extra),
        client.get(f"{MESSAGES}/{message.pk}", **extra),
        client.delete(f"{MESSAGES}/{message.pk}", **extra),
    ]
    for response in responses:
        assert response.status_code == 401, response.content
        assert response["Content-Type"] == "application/json; charset=utf-8"
        assert set(response.json()) == {"detail"}
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert Message.objects.count() == 1 and not Job.objects.exists()
    assert Message.objects.get().status == Message.Status.SCHEDULED


def test_a_revoked_token_is_401(client, outbox):
    token, raw = tokens.create("old")
    assert post(client, raw, request_data(key="a")).status_code == 201
    tokens.revoke([token])
    response = post(client, raw, request_data(key="b"))
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked token."}
    assert Message.objects.count() == 1


def test_a_session_login_is_no_api_token(client, outbox):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    response = client.post(MESSAGES, json.dumps(request_data()), content_type="application/json")
    assert response.status_code == 401
    assert not Message.objects.exists()


def test_bearer_requests_need_no_csrf_token(raw_token, outbox):
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, raw_token, request_data()).status_code == 201
    message = Message.objects.get()
    assert delete(strict, raw_token, message.pk).status_code == 200


def test_a_token_is_marked_as_used(client, raw_token, outbox):
    post(client, raw_token, request_data())
    assert Message.objects.get().token.last_used_at is not None


# --- Reading and cancelling --------------------------------------------------------------------------------
def test_get_status(client, raw_token, outbox):
    created = post(client, raw_token, request_data(send_at="2030-06-01T14:00:00-03:00")).json()
    response = get(client, raw_token, created["id"])
    assert response.status_code == 200
    status = response.json()
    assert status["id"] == created["id"] and status["status"] == "scheduled"
    assert timezone.datetime.fromisoformat(status["send_at"]) == timezone.datetime.fromisoformat(
        "2030-06-01T17:00:00+00:00"
    )


@pytest.mark.parametrize("pk", ["999999", "abc", "-1", "99999999999999999999999"])
def test_unknown_ids_are_404(client, raw_token, pk):
    for response in (client.get(f"{MESSAGES}/{pk}", **auth(raw_token)), delete(client, raw_token, pk)):
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


def test_a_token_sees_only_its_own_messages(client, raw_token, other_token, outbox):
    mine = post(client, raw_token, request_data()).json()
    assert get(client, other_token, mine["id"]).status_code == 404
    assert delete(client, other_token, mine["id"]).status_code == 404
    assert Message.objects.get().status == Message.Status.SCHEDULED

    theirs = post(client, other_token, request_data())  # the same (service, key): not theirs to see
    assert theirs.status_code == 409
    assert set(theirs.json()) == {"detail"}
    assert Message.objects.count() == 1 and Job.objects.filter(kind="send_message").count() == 1
    assert get(client, raw_token, mine["id"]).status_code == 200


@pytest.mark.parametrize("change", ["needs a third parameter", "deleted"])
def test_a_template_changed_after_the_message_was_accepted_fails_the_message_with_the_reason(
    client, raw_token, outbox, lembrete, callback, change, django_capture_on_commit_callbacks
):
    data = request_data(body=None, template="lembrete", params=["Ana", "14h"], callback_url=callback.url + "/status")
    message = Message.objects.get(pk=post(client, raw_token, data).json()["id"])
    if change == "deleted":
        lembrete.delete()
    else:
        MessageTemplate.objects.filter(pk=lembrete.pk).update(body="Olá {{1}}, às {{2}} com {{3}}")

    with django_capture_on_commit_callbacks(execute=True):
        assert execution.execute_run(services.run_now(message.job).id) == "succeeded"  # not retried in vain

    status = get(client, raw_token, message.pk).json()
    expected = "no longer exists" if change == "deleted" else "The template needs 3 parameter(s)"
    assert status["status"] == "failed" and expected in status["error"]
    assert not Delivery.objects.exists()
    tell_callbacks()
    assert [r.json()["status"] for r in callback.requests] == ["failed"]


def test_cancel_before_sending(client, raw_token, outbox, callback):
    created = post(client, raw_token, request_data(send_at=later(), callback_url=callback.url + "/status")).json()
    message = Message.objects.get(pk=created["id"])
    run = services.run_now(message.job)  # as if the scheduler had queued it already

    response = delete(client, raw_token, message.pk)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    job = Job.objects.get(pk=message.job_id)
    assert not job.enabled and job.next_run_at is None

    assert execution.execute_run(run.id) == "not claimed"
    assert not Event.objects.exists() and not Delivery.objects.exists()
    assert get(client, raw_token, message.pk).json()["status"] == "cancelled"
    tell_callbacks()
    assert [r.json()["status"] for r in callback.requests] == ["cancelled"]

    again = delete(client, raw_token, message.pk)  # cancelling twice: still cancelled, not told twice
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    tell_callbacks()
    assert len(callback.requests) == 1 and Callback.objects.count() == 1


def test_cancel_too_late(client, raw_token, outbox):
    message = Message.objects.get(pk=post(client, raw_token, request_data()).json()["id"])
    execution.execute_run(services.run_now(message.job).id)
    assert delete(client, raw_token, message.pk).status_code == 409  # sending: the delivery is queued
    sending.send_delivery(Message.objects.get(pk=message.pk).delivery_id)

    response = delete(client, raw_token, message.pk)
    assert response.status_code == 409
    assert response.json() == {"detail": "Too late to cancel: the message is already sent."}
    assert Message.objects.get().status == Message.Status.SENT


# --- The OpenAPI document and the rest of the site ---------------------------------------------------------
def test_the_openapi_document_needs_no_login(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Vigia API"
    assert set(document["paths"]["/api/v1/messages"]) == {"post"}
    assert set(document["paths"]["/api/v1/messages/{message_id}"]) == {"get", "delete"}
    create = document["paths"]["/api/v1/messages"]["post"]
    assert {"200", "201", "400", "401", "409", "422"} <= set(create["responses"])
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    assert client.get("/api/v1/docs").status_code == 404  # no docs page (it would load from a CDN)


@pytest.mark.parametrize("url", ["/", "/admin/", "/admin/channels_app/message/"])
def test_the_rest_of_the_site_still_asks_anonymous_users_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/login/?next=" in response["Location"]  # the dashboard's login page, or the admin's for /admin/


# --- In-process end to end ---------------------------------------------------------------------------------
def test_a_message_is_sent_and_the_callback_told(client, raw_token, outbox, callback):
    created = post(
        client, raw_token, request_data(send_at=timezone.now().isoformat(), callback_url=callback.url + "/status")
    )
    assert created.status_code == 201
    message = Message.objects.get(pk=created.json()["id"])

    run = services.run_now(message.job)
    assert execution.execute_run(run.id) == Run.Status.SUCCEEDED
    assert get(client, raw_token, message.pk).json()["status"] == "sending"
    message.refresh_from_db()
    assert sending.send_delivery(message.delivery_id) == Delivery.Status.SENT

    status = get(client, raw_token, message.pk).json()
    assert status["status"] == "sent"
    assert status["sent_at"] is not None and status["attempts"] == 1 and status["provider_id"] == "outbox"
    assert Message.objects.get().callback_status == "pending"  # a durable callback, sent by a worker
    tell_callbacks()
    assert len(callback.requests) == 1
    told = callback.requests[0]
    assert told.method == "POST" and told.path == "/status"
    assert told.json() == status
    assert told.header("X-Vigia-Callback") == f"message:{message.pk}" and told.header("X-Vigia-Signature")
    assert Message.objects.get().callback_status == "sent (HTTP 204)"


def test_a_refused_webhook_fails_the_message_and_the_callback_says_so(client, raw_token, callback):
    with LoopbackServer() as receiver:
        receiver.respond("/hook", status=400, body={"error": "unknown customer"})
        Channel.objects.create(
            name="hook", kind="webhook", config={"url": receiver.url + "/hook"}, secrets={"secret": "s" * 16}
        )
        created = post(client, raw_token, request_data(channel="hook", to=None, callback_url=callback.url + "/status"))
        assert created.status_code == 201, created.content
        message = Message.objects.get(pk=created.json()["id"])
        execution.execute_run(services.run_now(message.job).id)
        message.refresh_from_db()
        assert sending.send_delivery(message.delivery_id) == Delivery.Status.FAILED
        assert len(receiver.requests) == 1
        assert receiver.requests[0].json()["text"] == "Sua consulta é amanhã."

    status = get(client, raw_token, message.pk).json()
    assert status["status"] == "failed"
    assert "HTTP 400" in status["error"] and "unknown customer" in status["error"]
    tell_callbacks()
    assert len(callback.requests) == 1
    assert callback.requests[0].json()["status"] == "failed"
    assert callback.requests[0].json()["error"] == status["error"]


def test_a_redelivered_run_sends_once(client, raw_token, outbox):
    message = Message.objects.get(pk=post(client, raw_token, request_data()).json()["id"])
    run = services.run_now(message.job)
    assert execution.execute_run(run.id) == Run.Status.SUCCEEDED
    # The worker died after the work, before recording it: the run looks lost and is claimed again.
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1))
    assert execution.execute_run(run.id) == Run.Status.SUCCEEDED
    assert execution.execute_run(services.run_now(message.job).id) == Run.Status.SUCCEEDED  # a second run, too
    assert Event.objects.count() == 1 and Delivery.objects.count() == 1
    message.refresh_from_db()
    assert message.delivery == Delivery.objects.get()
    assert sending.send_delivery(message.delivery_id) == Delivery.Status.SENT
    assert sending.send_delivery(message.delivery_id) == "not claimed"


@pytest.mark.parametrize("channel", ["²", "١٢", "99999999999999999999999"])
def test_a_channel_named_by_digits_that_are_no_id_is_a_field_error(client, raw_token, outbox, channel):
    """ "²" is a digit to str.isdigit() but no number int() reads: it was a 500."""
    data = {"channel": channel, "to": "Ana", "body": "Olá", "service": "crm", "key": "digits"}
    response = post(client, raw_token, data)
    assert response.status_code == 422, response.content
    assert "channel" in response.json()["errors"]
    assert not Message.objects.filter(key="digits").exists()
