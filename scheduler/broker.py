"""The priority broker now lives in scheduler.djq (the one place that knows django-q2's internals).

Kept so older imports work; Q_CLUSTER["broker_class"] names scheduler.djq.PriorityORMBroker.
"""

from scheduler.djq import PriorityORMBroker, served_queues

__all__ = ["PriorityORMBroker", "served_queues"]
