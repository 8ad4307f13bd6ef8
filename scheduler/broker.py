"""django-q2's ORM broker, serving several named queues in priority order.

A cluster started with VIGIA_CLUSTER_QUEUES=high serves only `high`; the default serves all three and
always takes `high` before `default` before `low`. The queue itself stays django-q2's OrmQ table.
"""

import os
from time import sleep

from django.conf import settings
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf

from scheduler.liveness import HeartbeatStats


def served_queues():
    wanted = [q.strip() for q in os.environ.get("VIGIA_CLUSTER_QUEUES", "").split(",") if q.strip()]
    unknown = set(wanted) - set(settings.VIGIA_QUEUES)
    if unknown:
        raise ValueError(f"VIGIA_CLUSTER_QUEUES names unknown queue(s): {', '.join(sorted(unknown))}")
    return [q for q in settings.VIGIA_QUEUES if q in wanted] if wanted else list(settings.VIGIA_QUEUES)


class PriorityORMBroker(HeartbeatStats, ORM):  # HeartbeatStats: clusters visible on the dashboard
    def __init__(self, list_key=None):
        super().__init__(list_key=list_key)
        self.queues = served_queues()
        self._priority = Case(
            *[When(key=name, then=Value(rank)) for rank, name in enumerate(self.queues)],
            output_field=IntegerField(),
        )

    def queue_size(self):
        return self.get_connection().filter(key__in=self.queues, lock__lte=timezone.now()).count()

    def lock_size(self):
        return self.get_connection().filter(key__in=self.queues, lock__gt=timezone.now()).count()

    def purge_queue(self):
        return self.get_connection().filter(key__in=self.queues).delete()

    def dequeue(self):
        waiting = (
            self.get_connection()
            .filter(key__in=self.queues, lock__lt=timezone.now())
            .order_by(self._priority, "id")
            .values_list("id", "lock", "payload")[: Conf.BULK]
        )
        claimed = []
        for task_id, lock, payload in waiting:
            # Another cluster may have taken it since the read: the lock value is our compare-and-set.
            if self.get_connection().filter(id=task_id, lock=lock).update(lock=self.timeout(None)):
                claimed.append((task_id, payload))
        if claimed:
            return claimed
        sleep(Conf.POLL)
