"""`bench scrape`: parsing speed, the shared per-host rate limit under load, and new-item detection latency.

(a) parse + extract a 1 MB listing of 2,000 items with the html kind (median of 20);
(b) a cluster of 4 workers polling 8 sources on one host limited to 5 requests/s for 20 s; a loopback server
    counts the requests arriving in each 1-second window;
(c) a new item appears on a page polled every 10 s; time until its Item row exists (10 trials).
--quick: 10 s for (b) and 3 trials for (c).
"""

import random
import statistics
import time
from collections import Counter

from django.utils import timezone

from scrapers import ratelimit
from scrapers.models import Item, Source
from scrapers.sources import checks
from scrapers.sources.kinds import base as kinds
from scrapers.sources.services import SourceForm
from tests.bench import engine, register
from tests.bench.figures import percentile
from tests.loopback.server import LoopbackServer, Response

CONFIG = {"items": "li.task", "title": "h3", "link": "a@href", "body": "p", "id": "@data-id", "date": "time@datetime"}
TARGETS = {"parse_1mb_median_ms": 150, "ratelimit_max_per_s": 5, "ratelimit_total": 95, "detect_latency_p50_s": 10.5}


def listing(ids):
    rows = [
        f'<li class="task" data-id="{i}"><h3>Tarefa {i}: encontre o objeto misterioso</h3>'
        f'<time datetime="2026-11-22T14:{i % 60:02d}:00-03:00">22/11</time>'
        f'<a href="/tarefas/{i}">detalhes</a><p>{"Descrição da tarefa com acentuação e detalhes. " * 7}</p></li>'
        for i in ids
    ]
    return (
        f"<html><head><meta charset='utf-8'><title>Tarefas</title></head><body><ul>{''.join(rows)}</ul></body></html>"
    )


@register("scrape")
def run(env, quick, say, log_dir):
    figures = {"parse_1mb_median_ms": parse_speed(say)}
    with engine(env, log_dir):
        figures.update(rate_limit(say, seconds=10 if quick else 20))
        figures.update(detection(say, trials=3 if quick else 10))
    return {**figures, "quick": quick, "targets": TARGETS}


def parse_speed(say):
    text = listing(range(1, 2001))
    say(f"(a) parse + extract {len(text.encode()) / 1e6:.2f} MB, 2,000 items, median of 20")
    kind, config = kinds.get("html"), kinds.clean_config("html", CONFIG)
    document = kinds.Document(url="https://organizer.example/tarefas", text=text, content_type="text/html")
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        items = checks.with_keys(kind.parse(document, config))
        timings.append((time.perf_counter() - started) * 1000)
        assert len(items) == 2000
    return round(statistics.median(timings), 1)


class Site:
    """A loopback organizer site that serves a page and counts arrivals per whole second."""

    def __init__(self, body):
        self.body, self.arrivals = body, []
        # GET only, one request per connection (HTTP/1.0), as the site has always answered
        self.server = LoopbackServer(self._answer, methods=("GET",), protocol="HTTP/1.0", record=False).start()
        self.url = self.server.url

    def _answer(self, request):
        self.arrivals.append(time.time())
        return Response(200, self.body.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def close(self):
        self.server.stop()


def _source(name, url, interval):
    form = SourceForm(
        data={
            "name": name,
            "kind": "html",
            "url": url,
            "config": CONFIG,
            "method": "GET",
            "timeout_seconds": 10,
            "interval_seconds": interval,
            "timezone": "UTC",
            "enabled": True,
            "announce_first_check": True,
        }
    )
    if not form.is_valid():
        raise ValueError(form.errors.as_json())
    return form.save()


def rate_limit(say, seconds):
    site = Site(listing(range(1, 21)))
    ratelimit.set_rate(ratelimit.host_key(site.url), 5)
    say(f"(b) 8 sources on one host limited to 5 requests/s, 4 workers, {seconds} s")
    sources = [_source(f"bench rate {i}", f"{site.url}/page/{i}", 1) for i in range(8)]
    try:
        time.sleep(5)  # reach a steady state: every worker busy, the limit saturated
        start = int(time.time()) + 1
        time.sleep(start + seconds - time.time() + 0.5)
        windows = Counter(int(moment) for moment in site.arrivals if start <= moment < start + seconds)
    finally:
        for source in sources:
            source.delete()
        site.close()
    return {"ratelimit_max_per_s": max(windows.values(), default=0), "ratelimit_total": sum(windows.values())}


def detection(say, trials):
    site = Site(listing(range(1, 6)))
    say(f"(c) new item on a page polled every 10 s: {trials} trials")
    source = _source("bench detect", f"{site.url}/tarefas", 10)
    latencies = []
    try:
        _wait(lambda: Source.objects.get(pk=source.pk).last_success_at, 30)
        for trial in range(trials):
            time.sleep(random.uniform(0, 10))
            new_id = 1000 + trial
            site.body = listing([new_id, 1, 2, 3, 4, 5])
            appeared = time.monotonic()
            found = Item.objects.filter(source=source, key=str(new_id))
            _wait(found.exists, 30, interval=0.02)
            latencies.append(round(time.monotonic() - appeared, 3))
            say(f"    trial {trial + 1}: {latencies[-1]} s")
    finally:
        source.delete()
        site.close()
    return {"detect_latency_p50_s": percentile(latencies, 0.5), "detect_latency_max_s": max(latencies)}


def _wait(predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    raise TimeoutError(f"waited {timeout} s at {timezone.now():%H:%M:%S}")
