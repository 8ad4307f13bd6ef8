"""Callbacks (channels_app.callbacks): a run's or an API message's final status, POSTed to its callback URL as a
delivery of its own — signed with the caller's secret (checked here by a real receiver, with hmac of its own),
one per subject, retried with backoff on transient answers, failed at once on permanent ones, through the
outbound guard — and visible where people look (the message's callback_status, the run page, the admin)."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from channels_app import callbacks, scheduled, sending, tokens
from channels_app.models import Callback, Channel, Delivery, Message
from scheduler import execution, services
from scheduler.models import Run
from scheduler.signals import run_finished
from tests.loopback.server import LoopbackServer
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db

ISSUER = "https://id.example.org:8443"  # an issuer's name may hold ":" (it is a URL)


@pytest.fixture
def receiver():
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def token():
    return tokens.create("crm")[0]


def secret_of(token):
    return token.callback_secret["secret"]


def verified(request, secret):
    """The receiver's side, as the README tells receivers to do it (not the code under test)."""
    timestamp = request.header("X-Vigia-Timestamp")
    expected = (
        "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    )
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(expected, request.header("X-Vigia-Signature") or "")


def _count_callback_tasks():
    return sum(1 for task in OrmQ.objects.all() if task.func() == callbacks.SEND)


def due_later(callback, seconds=1):
    """A `now` just past the callback's next attempt (drives retries without sleeping)."""
    callback.refresh_from_db()
    return callback.next_attempt_at + timedelta(seconds=seconds)


# --- Signed ------------------------------------------------------------------------------------------------
def test_the_receiver_verifies_the_signature_with_the_tokens_secret(receiver, token):
    receiver.respond("/hook", status=200)
    document = {"type": "run", "run": {"id": 7, "status": "succeeded", "error": "ação"}}
    callback = callbacks.schedule("run:7", receiver.url + "/hook", document, f"token:{token.pk}")

    assert callbacks.send(callback.pk) == Callback.Status.SENT

    (request,) = receiver.requests
    assert request.method == "POST" and request.path == "/hook"
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Vigia-Callback") == "run:7"
    assert request.header("User-Agent").startswith("Vigia/")
    assert verified(request, secret_of(token))
    assert not verified(request, "another secret")
    assert request.json() == document
    callback.refresh_from_db()
    assert (callback.status, callback.attempts, callback.last_status_code, callback.signed) == ("sent", 1, 200, True)
    assert callback.sent_at is not None and callback.error == ""


def test_a_jwt_callers_callbacks_are_signed_with_its_issuers_secret(receiver, settings):
    settings.VIGIA_API_JWT_ISSUERS = {
        ISSUER: {"algorithm": "HS256", "secret": "k" * 32, "callback_secret": "whsec_issuer_secret_0123456789"},
        "https://id.example.org": {"algorithm": "HS256", "secret": "k" * 32, "callback_secret": "not this one"},
    }
    receiver.respond("/hook", status=204)
    callback = callbacks.schedule("run:8", receiver.url + "/hook", {"type": "run"}, f"jwt:{ISSUER}:user-1")

    assert callbacks.send(callback.pk) == Callback.Status.SENT
    assert verified(receiver.requests[0], "whsec_issuer_secret_0123456789")


def test_a_caller_without_a_secret_is_told_unsigned_and_the_row_says_so(receiver):
    receiver.respond("/hook", status=200)
    callback = callbacks.schedule("run:9", receiver.url + "/hook", {"type": "run"}, "")  # an operator's job

    assert callbacks.send(callback.pk) == Callback.Status.SENT
    request = receiver.requests[0]
    assert request.header("X-Vigia-Signature") is None and request.header("X-Vigia-Timestamp")
    callback.refresh_from_db()
    assert callback.signed is False
    assert callbacks.describe(callback) == "sent (HTTP 200, unsigned)"


def test_secrets_and_header_values_are_not_logged(receiver, token, caplog):
    receiver.respond("/hook", status=503)
    callback = callbacks.schedule("run:10", receiver.url + "/hook", {"type": "run"}, f"token:{token.pk}")
    with caplog.at_level("DEBUG"):
        callbacks.send(callback.pk)
    signature = receiver.requests[0].header("X-Vigia-Signature")
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert secret_of(token) not in logged and signature not in logged
    callback.refresh_from_db()
    assert secret_of(token) not in callback.error and signature not in callback.error


# --- Retried, failed, dead ---------------------------------------------------------------------------------
def test_a_503_then_200_receiver_is_told_twice_and_the_callback_ends_sent(receiver, token):
    receiver.respond("/hook", status=503)
    receiver.respond("/hook", status=200)
    callback = callbacks.schedule("run:11", receiver.url + "/hook", {"type": "run", "n": 1}, f"token:{token.pk}")
    before = timezone.now()

    assert callbacks.send(callback.pk) == Callback.Status.RETRYING
    callback.refresh_from_db()
    assert (callback.attempts, callback.last_status_code, callback.error) == (1, 503, "HTTP 503")
    assert callback.next_attempt_at >= before + timedelta(seconds=10)  # VIGIA_CALLBACK_BACKOFF
    assert callbacks.send(callback.pk) == "not claimed"  # not due yet (a duplicate task does nothing)
    assert callbacks.requeue_due() == 0

    tasks = _count_callback_tasks()
    assert callbacks.requeue_due(now=due_later(callback)) == 1
    assert _count_callback_tasks() == tasks + 1
    assert callbacks.send(callback.pk) == Callback.Status.SENT

    callback.refresh_from_db()
    assert (callback.status, callback.attempts, callback.last_status_code) == ("sent", 2, 200)
    first, second = receiver.requests
    assert first.body == second.body and first.header("X-Vigia-Callback") == second.header("X-Vigia-Callback")
    assert verified(second, secret_of(token))
    assert callbacks.requeue_due(now=timezone.now() + timedelta(days=1)) == 0  # nothing left to do


def test_the_backoff_doubles_and_honours_retry_after(receiver, settings):
    settings.VIGIA_CALLBACK_BACKOFF = 10
    settings.VIGIA_CALLBACK_BACKOFF_CAP = 3600
    assert 10 <= callbacks.backoff(1).total_seconds() <= 13
    assert 40 <= callbacks.backoff(3).total_seconds() <= 52
    assert 3600 <= callbacks.backoff(20).total_seconds() <= 3600 * 1.3  # the cap
    receiver.respond("/hook", status=429, headers={"Retry-After": "600"})
    callback = callbacks.schedule("run:12", receiver.url + "/hook", {}, "")
    before = timezone.now()

    assert callbacks.send(callback.pk) == Callback.Status.RETRYING
    callback.refresh_from_db()
    assert callback.next_attempt_at >= before + timedelta(seconds=600)
    assert callback.error == "HTTP 429"


def test_a_400_receiver_fails_the_callback_without_retrying(receiver):
    receiver.respond("/hook", status=400, body={"error": "unknown run"})
    callback = callbacks.schedule("run:13", receiver.url + "/hook", {}, "")

    assert callbacks.send(callback.pk) == Callback.Status.FAILED
    callback.refresh_from_db()
    assert (callback.attempts, callback.last_status_code, callback.next_attempt_at) == (1, 400, None)
    assert callbacks.requeue_due(now=timezone.now() + timedelta(days=1)) == 0
    assert callbacks.send(callback.pk) == "not claimed"
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [408, 425, 500, 502])
def test_transient_answers_are_retried(receiver, status):
    receiver.respond("/hook", status=status)
    callback = callbacks.schedule(f"run:{status}", receiver.url + "/hook", {}, "")
    assert callbacks.send(callback.pk) == Callback.Status.RETRYING


def test_a_receiver_that_never_answers_within_the_deadline_is_retried(receiver, monkeypatch):
    monkeypatch.setattr(callbacks, "TIMEOUT", 0.5)
    receiver.respond("/hook", delay=10)
    callback = callbacks.schedule("run:14", receiver.url + "/hook", {}, "")
    started = time.monotonic()

    assert callbacks.send(callback.pk) == Callback.Status.RETRYING
    assert time.monotonic() - started < 3
    callback.refresh_from_db()
    assert callback.error == "no answer within 0.5 s" and callback.last_status_code is None


def test_retries_end_dead_after_the_last_attempt(receiver, settings):
    settings.VIGIA_CALLBACK_MAX_ATTEMPTS = 2
    receiver.respond("/hook", status=503)
    callback = callbacks.schedule("run:15", receiver.url + "/hook", {}, "")

    assert callbacks.send(callback.pk) == Callback.Status.RETRYING
    assert callbacks.requeue_due(now=due_later(callback)) == 1
    assert callbacks.send(callback.pk) == Callback.Status.DEAD
    callback.refresh_from_db()
    assert (callback.attempts, callback.error) == (2, "HTTP 503")
    assert callbacks.requeue_due(now=timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.requests) == 2


def test_a_sending_callback_whose_worker_vanished_is_queued_again(receiver, settings):
    receiver.respond("/hook", status=200)
    callback = callbacks.schedule("run:16", receiver.url + "/hook", {}, "")
    assert callbacks.claim(callback.pk, "gone:1") is not None  # the worker died here
    assert callbacks.requeue_due() == 0  # not stale yet
    later = timezone.now() + timedelta(seconds=settings.VIGIA_DELIVERY_STALE_AFTER + 1)
    assert callbacks.requeue_due(now=later) == 1
    assert callbacks.send(callback.pk) == Callback.Status.SENT
    callback.refresh_from_db()
    assert callback.attempts == 2


def test_the_sweep_is_one_query_when_nothing_is_due(django_assert_num_queries):
    callbacks.schedule("run:17", "https://example.org/hook", {}, "")  # pending, its safety net in the future
    with django_assert_num_queries(1):
        assert callbacks.requeue_due() == 0


# --- The outbound guard --------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_a_callback_to_a_loopback_address_is_refused_in_production(receiver, settings, host):
    settings.VIGIA_OUTBOUND_ALLOW = []  # as in production (the tests allow their loopback stand-ins)
    receiver.respond("/hook", status=200)
    callback = callbacks.schedule("run:18", f"http://{host}:{receiver.port}/hook", {}, "")

    assert callbacks.send(callback.pk) == Callback.Status.FAILED
    callback.refresh_from_db()
    assert callback.error.startswith(f"refused: {host}") and "loopback" in callback.error
    assert receiver.requests == []
    assert callbacks.requeue_due(now=timezone.now() + timedelta(days=1)) == 0  # never retried


def test_a_redirect_is_not_followed(receiver):
    with LoopbackServer() as internal:
        receiver.respond("/hook", status=302, headers={"Location": internal.url + "/secret"})
        callback = callbacks.schedule("run:19", receiver.url + "/hook", {}, "")
        assert callbacks.send(callback.pk) == Callback.Status.FAILED
        assert internal.requests == []


# --- One per subject ---------------------------------------------------------------------------------------
def test_one_callback_per_subject(receiver):
    receiver.respond("/hook", status=200)
    first = callbacks.schedule("run:20", receiver.url + "/hook", {"n": 1}, "")
    again = callbacks.schedule("run:20", receiver.url + "/other", {"n": 2}, "")
    assert again.pk == first.pk and again.body == {"n": 1}
    assert Callback.objects.count() == 1 and _count_callback_tasks() == 1
    assert callbacks.schedule("run:21", "", {}, "") is None  # no URL, no callback


def run_job(job):
    run = services.run_now(job)
    execution.execute_run(run.id)
    run.refresh_from_db()
    return run


def test_a_finished_run_is_told_once_with_its_document_even_if_the_signal_fires_twice(receiver, token):
    receiver.respond("/runs", status=200)
    job = make_job(
        kind="noop",
        callback_url=receiver.url + "/runs",
        api_caller=f"token:{token.pk}",
        external_service="billing",
        external_key="nightly",
    )
    run = run_job(job)
    assert run.status == Run.Status.SUCCEEDED
    run_finished.send(sender=Run, run=Run.objects.select_related("job").get(pk=run.pk))  # a repeated announcement

    callback = Callback.objects.get()
    assert callback.subject == f"run:{run.pk}" and _count_callback_tasks() == 1
    assert callbacks.send(callback.pk) == Callback.Status.SENT
    (request,) = receiver.requests
    assert verified(request, secret_of(token))
    document = request.json()
    assert document == {
        "type": "run",
        "run": {
            "id": run.pk,
            "job": job.pk,
            "status": "succeeded",
            "trigger": "manual",
            "attempt": 1,
            "scheduled_for": run.scheduled_for.isoformat(),
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat(),
            "duration": run.duration_ms / 1000,
            "result": {"ok": True},
            "error": "",
        },
        "job": {"id": job.pk, "service": "billing", "key": "nightly", "name": job.name},
    }


def test_an_http_request_run_is_told_its_result(receiver):
    receiver.respond("/target", status=200, body={"ok": 1})
    receiver.respond("/runs", status=200)
    job = make_job(
        kind="http_request",
        params={"url": receiver.url + "/target", "method": "GET"},
        callback_url=receiver.url + "/runs",
    )
    run = run_job(job)
    assert run.status == Run.Status.SUCCEEDED
    assert callbacks.send(Callback.objects.get(subject=f"run:{run.pk}").pk) == Callback.Status.SENT
    told = [r for r in receiver.requests if r.path == "/runs"]
    assert len(told) == 1 and told[0].json()["run"]["status"] == "succeeded"
    assert told[0].json()["run"]["result"] == json.loads(json.dumps(run.result))


def test_a_failed_run_that_will_be_retried_is_told_only_of_its_final_attempt(receiver):
    receiver.respond("/runs", status=200)
    job = make_job(kind="test_fail", params={"failures": 2}, max_attempts=3, callback_url=receiver.url + "/runs")
    run = run_job(job)
    assert run.status == Run.Status.FAILED
    assert not Callback.objects.exists()  # attempt 2 follows

    for attempt in (2, 3):
        retry = Run.objects.get(job=job, attempt=attempt)
        Run.objects.filter(pk=retry.pk).update(status=Run.Status.QUEUED)  # its backoff over
        execution.execute_run(retry.id)
        if attempt == 2:
            assert not Callback.objects.exists()

    callback = Callback.objects.get()
    final = Run.objects.get(job=job, attempt=3)
    assert callback.subject == f"run:{final.pk}"
    assert callback.body["run"]["status"] == "succeeded" and callback.body["run"]["attempt"] == 3


def test_a_run_that_failed_for_good_is_told(receiver):
    job = make_job(
        kind="test_fail", params={"failures": 5, "permanent": True}, max_attempts=3, callback_url=receiver.url
    )
    run = run_job(job)
    assert run.status == Run.Status.FAILED
    body = Callback.objects.get(subject=f"run:{run.pk}").body
    assert body["run"]["status"] == "failed" and "planned failure 1" in body["run"]["error"]


def test_a_cancelled_run_is_told(receiver):
    job = make_job(kind="noop", callback_url=receiver.url + "/runs")
    run = services.run_now(job)
    assert services.cancel([run]) == (1, 0)
    assert Callback.objects.get(subject=f"run:{run.pk}").body["run"]["status"] == "cancelled"


def test_runs_of_jobs_without_a_callback_url_are_not_told():
    run_job(make_job(kind="noop"))
    assert not Callback.objects.exists()


# --- Messages ----------------------------------------------------------------------------------------------
def api_message(url, token, **fields):
    channel = Channel.objects.get_or_create(name="avisos", kind="outbox")[0]
    request = scheduled.Request(service="crm", key="c-1", channel=channel.name, body="Olá", **fields)
    message, _ = scheduled.create(request, token=token)
    Message.objects.filter(pk=message.pk).update(callback_url=url)  # a loopback URL: refused when given
    message.refresh_from_db()
    return message


def test_a_messages_final_status_is_one_signed_callback(receiver, token):
    receiver.respond("/status", status=204)
    message = api_message(receiver.url + "/status", token)
    assert execution.execute_run(services.run_now(message.job).id) == Run.Status.SUCCEEDED
    message.refresh_from_db()
    assert sending.send_delivery(message.delivery_id) == Delivery.Status.SENT
    message.refresh_from_db()
    assert message.callback_status == "pending"

    delivery = Delivery.objects.get()
    sending.delivery_finished.send(sender=Delivery, delivery=delivery)  # a repeated ending
    callback = Callback.objects.get()
    assert callback.subject == f"message:{message.pk}" and _count_callback_tasks() == 1
    assert callbacks.send(callback.pk) == Callback.Status.SENT

    (request,) = receiver.requests
    assert verified(request, secret_of(token))
    assert request.header("X-Vigia-Callback") == f"message:{message.pk}"
    document = request.json()
    assert document == scheduled.status_of(Message.objects.get(pk=message.pk))
    assert document["status"] == "sent" and document["attempts"] == 1
    assert Message.objects.get(pk=message.pk).callback_status == "sent (HTTP 204)"


def test_a_messages_callback_status_follows_its_retries(receiver, token, settings):
    settings.VIGIA_CALLBACK_MAX_ATTEMPTS = 2
    receiver.respond("/status", status=503)
    message = api_message(receiver.url + "/status", token)
    assert scheduled.cancel(message)
    callback = Callback.objects.get(subject=f"message:{message.pk}")
    assert callback.body["status"] == "cancelled"

    callbacks.send(callback.pk)
    assert Message.objects.get(pk=message.pk).callback_status == "retrying: HTTP 503"
    callbacks.requeue_due(now=due_later(callback))
    callbacks.send(callback.pk)
    assert Message.objects.get(pk=message.pk).callback_status == "dead: HTTP 503"


# --- Visible -----------------------------------------------------------------------------------------------
def test_the_run_page_shows_its_callback(receiver, staff_client):
    receiver.respond("/runs", status=503)
    run = run_job(make_job(kind="noop", callback_url=receiver.url + "/runs"))
    callbacks.send(Callback.objects.get().pk)

    page = staff_client.get(f"/runs/{run.pk}/").content.decode()
    assert "Callback" in page and "Waiting to retry" in page and "HTTP 503" in page and "1 attempt" in page
    assert "127.0.0.1" in page and "unsigned" in page
    other = run_job(make_job(kind="noop"))
    assert "Callback" not in staff_client.get(f"/runs/{other.pk}/").content.decode()


def test_the_admin_lists_callbacks_and_the_messages_column(receiver, token, admin_client):
    receiver.respond("/status", status=200)
    message = api_message(receiver.url + "/status", token)
    scheduled.cancel(message)
    callbacks.send(Callback.objects.get().pk)

    listing = admin_client.get("/admin/channels_app/callback/?q=message").content.decode()
    assert f"message:{message.pk}" in listing and "127.0.0.1" in listing and "Sent" in listing
    assert secret_of(token) not in listing
    detail = admin_client.get(f"/admin/channels_app/callback/{Callback.objects.get().pk}/change/")
    assert detail.status_code == 200
    assert admin_client.get("/admin/channels_app/callback/add/").status_code == 403
    messages = admin_client.get("/admin/channels_app/message/").content.decode()
    assert "sent (HTTP 200)" in messages
