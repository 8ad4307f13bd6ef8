"""`bench deliveries`: 1,000 events (--quick: 200) to a loopback Wuzapi through real workers.

One scheduler and one django-q2 cluster of 4 workers on a throwaway database. One WhatsApp group is
subscribed to the benchmark's topic; each event is published in its own transaction, as a check does.
(a) the channel paced at 600 messages/min: the most messages the provider saw in any 1-second window
    (target ≤ 10 + 1), duplicates and losses (both 0);
(b) unpaced: messages per second end to end (target ≥ 200) and the time from publish() returning to the
    provider receiving the message (p99 target ≤ 0.5 s).
"""

import logging
import time
from bisect import bisect_left

from channels_app.events import publish
from channels_app.models import Channel, Delivery, Recipient, Subscription
from scheduler.models import Job
from tests.bench import engine, register
from tests.bench.figures import among, percentile
from tests.loopback.wuzapi import Remote

PACE = 600
TARGETS = {"paced_max_per_s": PACE // 60 + 1, "duplicates": 0, "lost": 0, "unpaced_msgs_per_s": 200}
TARGETS["publish_to_provider_p99_s"] = 0.5
GROUP = "120363025246125486@g.us"


@register("deliveries")
def run(env, quick, say, log_dir):
    count = 200 if quick else 1000
    logging.getLogger("vigia").setLevel(logging.WARNING)  # a line per publish would be this process's work
    with Remote() as wuzapi:  # Wuzapi is a server of its own, not a thread of the publishing process
        channel = Channel.objects.create(
            name="bench whatsapp", kind="wuzapi", config={"base_url": wuzapi.url}, secrets={"token": wuzapi.token}
        )
        group = Recipient.objects.create(channel=channel, address=GROUP)
        Subscription.objects.create(recipient=group, topic="bench:*")
        Job.objects.update(enabled=False, next_run_at=None)  # only what we measure
        with engine(env, log_dir):
            time.sleep(3)  # the cluster's workers up
            Channel.objects.filter(pk=channel.pk).update(pace_per_minute=PACE)
            say(f"(a) {count} events, the channel paced at {PACE}/min")
            paced = _round(wuzapi, "paced", count, timeout=count * 60 / PACE * 2 + 60)
            Channel.objects.filter(pk=channel.pk).update(pace_per_minute=None)
            say(f"(b) {count} events, unpaced")
            unpaced = _round(wuzapi, "unpaced", count, timeout=120)
    return {
        "events": count,
        "paced_max_per_s": paced["max_per_s"],
        "paced_seconds": paced["seconds"],
        "duplicates": paced["duplicates"] + unpaced["duplicates"],
        "lost": paced["lost"] + unpaced["lost"],
        "unpaced_msgs_per_s": round(count / unpaced["seconds"], 1),
        "publish_to_provider_p50_s": percentile(unpaced["latencies"], 0.5),
        "publish_to_provider_p99_s": percentile(unpaced["latencies"], 0.99),
        "workers": 4,
        "quick": quick,
        "targets": TARGETS,
    }


def _round(wuzapi, name, count, timeout):
    """Publish `count` events one by one; wait until every delivery is final. Returns its figures."""
    seen = len(wuzapi.arrivals())
    published = {}  # event id → time.monotonic() when publish() returned
    began = time.monotonic()
    for index in range(count):
        event = publish(f"bench:{name}", {"type": "item.new", "source_name": "Bench", "title": f"Tarefa {index}"})
        published[event.pk] = time.monotonic()
    say_rate = count / (time.monotonic() - began)
    deliveries = Delivery.objects.filter(among("event_id", published))
    deadline = time.monotonic() + timeout
    while deliveries.exclude(status__in=Delivery.FINAL).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"round {name}: deliveries still pending after {timeout:.0f} s")
        time.sleep(0.2)
    keys = dict(deliveries.values_list("pk", "event_id"))
    arrivals = wuzapi.arrivals()[seen:]
    first = {}
    for at, key in arrivals:
        first.setdefault(key, at)
    received = {int(key.removeprefix("vigia-")) for key in first if key.startswith("vigia-")}
    latencies = [first[f"vigia-{pk}"] - published[event] for pk, event in keys.items() if f"vigia-{pk}" in first]
    return {
        "max_per_s": _max_per_second([at for at, _ in arrivals]),
        "seconds": max(first.values()) - began if first else float("inf"),
        "duplicates": len(arrivals) - len(first),  # requests beyond one per message
        "lost": len(set(keys) - received),
        "latencies": latencies,
        "publish_rate": say_rate,
    }


def _max_per_second(times):
    """The most arrivals within any 1-second window (sliding)."""
    times = sorted(times)
    return max((bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)
