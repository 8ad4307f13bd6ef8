"""The safety-net sweep (requeue_due) and the workers' claims run at the same time on a busy system. A
delivery the sweep picks up while a worker claims it must still be sent once: the sweep must never put a
claimed delivery back to `pending` for a second worker to send again."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from channels_app import sending
from channels_app.events import publish
from channels_app.models import Channel, Delivery
from tests.channels_app.support import item_event, recipient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one writer at a time: no race"),
]


def test_a_delivery_the_sweep_requeues_while_a_worker_claims_it_is_sent_once():
    channel = Channel.objects.create(name="outbox", kind="outbox")
    recipient(channel, address="ops")
    for index in range(150):
        publish("source:1", item_event(title=f"Tarefa {index}"))
    # Every delivery's safety net is due: each sweep picks up whatever is not claimed yet.
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    ids = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    claims = Counter()
    lock, done = threading.Lock(), threading.Event()

    def sweeper():
        try:
            while not done.is_set():
                # Every unclaimed delivery's safety net is due again (claimed ones are not stale).
                Delivery.objects.filter(status=Delivery.Status.PENDING).update(
                    next_attempt_at=timezone.now() - timedelta(seconds=1)
                )
                sending.requeue_due()
        finally:
            connection.close()

    def worker(name):
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                left = Delivery.objects.filter(pk__in=ids).exclude(status=Delivery.Status.SENT)
                pending = list(left.values_list("pk", flat=True))
                if not pending:
                    return
                for pk in pending:
                    delivery = sending.claim(pk, name)
                    if delivery is None:
                        continue
                    with lock:
                        claims[pk] += 1  # a claim is a send: the provider would get a message
                    sending.finish(delivery, name, provider_id="p")
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper)] + [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join(90)
    done.set()
    threads[0].join(30)

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    twice = {pk: count for pk, count in claims.items() if count > 1}
    assert not twice, f"sent more than once: {twice}"
    assert set(claims) == set(ids)
