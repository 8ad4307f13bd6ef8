"""Cancelling an API message and its send job are serialised on the message's row: one of them wins, and
the API says which. The job used to read the message before its transaction and create the delivery without
looking again, so a cancel in between answered 200 `cancelled` while the message went out all the same."""

import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from channels_app import scheduled, tokens
from channels_app.models import Channel, Delivery, Event, Message
from scheduler import execution, services

MESSAGES = "/api/v1/messages"


def schedule(raw):
    Channel.objects.create(name="avisos", kind="outbox")
    data = {"service": "crm", "key": "k1", "channel": "avisos", "to": "ana", "body": "Oi"}
    data["send_at"] = "2030-01-01T00:00Z"
    response = Client().post(MESSAGES, json.dumps(data), content_type="application/json", **auth(raw))
    assert response.status_code == 201, response.content
    return Message.objects.get(pk=response.json()["id"])


def auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def cancel(raw, message):
    return Client().delete(f"{MESSAGES}/{message.pk}", **auth(raw))


@pytest.mark.django_db
def test_a_cancel_after_the_job_read_the_message_stops_the_send():
    raw = tokens.create("crm")[1]
    message = schedule(raw)
    as_the_job_read_it = Message.objects.get(pk=message.pk)  # the job loads it, then the client cancels

    response = cancel(raw, message)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    assert scheduled.dispatch(as_the_job_read_it) == {"skipped": "cancelled"}
    assert not Delivery.objects.exists()
    assert Message.objects.get().status == Message.Status.CANCELLED


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one writer at a time")
def test_a_cancel_while_the_send_is_under_way_waits_for_it_and_answers_409():
    raw = tokens.create("crm")[1]
    message = schedule(raw)
    run = services.run_now(message.job, enqueue=False)
    Message.objects.filter(pk=message.pk).update(send_at=timezone.now())
    outcome = {}

    def send():
        try:
            outcome["run"] = execution.execute_run(run.pk)
        finally:
            connection.close()

    def cancel_it():
        try:
            outcome["cancel"] = cancel(raw, message)
        finally:
            connection.close()

    threads = [threading.Thread(target=send), threading.Thread(target=cancel_it)]
    # This connection holds the event the send is about to record, uncommitted: the send stops there, in the
    # middle of its transaction, while the client's cancel arrives.
    with pytest.raises(_Rollback), transaction.atomic():
        Event.objects.create(key=f"message:{message.pk}", topic="hold", type="hold")
        threads[0].start()
        wait_for(lambda: waiting_locks() >= 1)
        threads[1].start()
        wait_for(lambda: waiting_locks() >= 2 or not threads[1].is_alive())
        raise _Rollback
    for thread in threads:
        thread.join(30)

    response = outcome["cancel"]
    delivery = Delivery.objects.filter(event__key=f"message:{message.pk}").first()
    assert delivery is not None and outcome["run"] == "succeeded"  # the send went ahead: it came first
    assert response.status_code == 409, response.content
    assert response.json() == {"detail": "Too late to cancel: the message is already sending."}
    assert Message.objects.get().status == Message.Status.SENDING


class _Rollback(Exception):
    pass


def waiting_locks():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
