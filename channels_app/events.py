"""publish(topic, event): how the domain apps hand events to delivery.

Until the channels issue lands this only logs; its signature is the contract the domain apps code to.
Topics are plain strings (`source:12`, `person:45`, `job:7:failed`, `sources:broken`); an event is a small
JSON-able dict with at least a `type` (`item.new`, `item.updated`, `source.broken`, `source.recovered`, ...).
"""

import logging

log = logging.getLogger("vigia.events")


def publish(topic, event):
    """Hand an event to the subscriptions of `topic`; returns how many deliveries were created."""
    log.info("event", extra={"topic": topic, "type": event.get("type")})
    return 0
