"""`bench soak`: the whole system under a steady load for 10 minutes (--quick: 2), watching for leaks,
failures and lateness.

gunicorn (2 workers, deploy/gunicorn.conf.py when present, DEBUG off), one scheduler and one django-q2
cluster of 4 workers on a throwaway PostgreSQL database. 200 sources polled every 10 s (their starts
spread across the 10 s, as sources created at different moments are) on 4 loopback organizer sites served
by a process of their own; each page lists 10 items and gains one a minute, and each source's site answers
503 for one 30-second window in 100 (an upstream failure the run must record as such). 5 clients log in
through the login form and poll the overview, the queue fragment (HTMX), the runs and the jobs pages every
2 s. After a 30 s warm-up (imports, caches, first checks), the measured window:
- resident memory (VmRSS) of every process at the start and at the end of the window, by role; the worst
  growth of a role's largest process or of any process alive at both moments (target ≤ 10 %);
- failures not caused by upstreams (target 0): runs in the window that failed, timed out or were
  cancelled for any reason but an HTTP error answered by a loopback site, runs not final 60 s after the
  window, dashboard answers 5xx or not answered at all, and processes that exited;
- start lag, started_at − scheduled_for, of the window's runs (p99 target ≤ 0.5 s);
- alerts: one more upstream (its own loopback site) serves ALERT_SOURCES sources polled every 10 s and goes down
  for OUTAGE seconds (2 minutes; --quick: 45 s) during the run, then comes back. Each of its sources must be
  announced broken (at its N-th failure in a row, the default policy's 3) and recovered, exactly once, to a
  WhatsApp recipient on a loopback Wuzapi, with production's alert settings (a 1 s grouping hold): alerts sent,
  missed and duplicated, and the latency from the failure (or success) that decided it, as recorded with the
  event in the same transaction, to the provider accepting the message (p99 targets ≤ 2 s).
"""

import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError
from django.db import close_old_connections, connections
from django.utils import timezone

from channels_app.events import publish
from channels_app.models import Channel, Delivery, Event, Recipient, Subscription
from scheduler import lease
from scheduler.models import Job, Run
from scheduler.processes import MANAGE, stop
from scrapers import ratelimit
from scrapers.models import Item, Source
from scrapers.sources.kinds import base as kinds
from scrapers.sources.services import sync_job
from tests.bench import engine, memory, register
from tests.bench.figures import percentile, seconds
from tests.loopback.server import LoopbackServer, Response
from tests.loopback.wuzapi import FakeWuzapi

SITES, SOURCES, INTERVAL, WORKERS, WEB_WORKERS = 4, 200, 10, 4, 2
POLLERS, POLL_EVERY, WARM_UP, SETTLE = 5, 2.0, 30, 60
TARGETS = {
    "rss_growth_max_pct": 10,
    "non_upstream_failures": 0,
    "start_lag_p99_s": 0.5,
    "alerts_missed": 0,
    "alerts_duplicated": 0,
    "alert_latency_p99_s": 2.0,
    "recovery_latency_p99_s": 2.0,
}
ALERT_SOURCES, ALERT_INTERVAL = 5, INTERVAL
OUTAGE_AT = 100  # seconds after the sites start: past the start-up and the warm-up
HEALTH_TYPES = ("source.broken", "source.recovered")
CONFIG = {"items": "li.task", "title": "h3", "link": "a@href", "body": "p", "id": "@data-id"}
PAGES = [("/", {}), ("/queue/", {"HX-Request": "true"}), ("/runs/", {}), ("/jobs/", {})]
ALLOW = "127.0.0.1,localhost"  # the outbound guard's allow-list: the loopback sites are ours
PASSWORD = "soak-bench-password-1"
UPSTREAM_ERROR = re.compile(r"HTTP \d{3} from (\S+)")


@register("soak")
def run(env, quick, say, log_dir):
    window = 120 if quick else 600
    os.environ["VIGIA_OUTBOUND_ALLOW"] = ALLOW
    # Production-like children: DEBUG off (it would also keep every query in memory), static files
    # collected into a directory of their own.
    env = {**env, "DEBUG": "0", "VIGIA_OUTBOUND_ALLOW": ALLOW, "VIGIA_STATIC_ROOT": str(log_dir / "static")}
    connections.close_all()  # the upstream process is forked: it must not share this connection
    outage = 45 if quick else 120
    with Upstreams(SITES + 1, outage=outage) as upstreams, FakeWuzapi() as wuzapi:
        # The people cycle would call the real DJEN: only the soak's sources and the delivery sweep run.
        Job.objects.update(enabled=False, next_run_at=None)
        make_sources(upstreams.urls[:SITES])
        watched = make_alert_sources(upstreams.urls[SITES], wuzapi)
        users = [
            get_user_model().objects.create_user(f"soak{i}", password=PASSWORD, is_staff=True).username
            for i in range(POLLERS)
        ]
        say(f"{SOURCES} sources every {INTERVAL} s on {SITES} loopback sites; {WORKERS} workers; web of {WEB_WORKERS}")
        with web(env, log_dir, say) as (server, url), engine(env, log_dir, workers=WORKERS) as (scheduler, cluster):
            _wait(lambda: lease.current() and lease.current().expires_at > timezone.now(), 60, "a leader")
            _wait(lambda: Run.objects.filter(status=Run.Status.SUCCEEDED).exists(), 60, "a first run")
            pollers = Pollers(url, users)
            pollers.start()
            warm_up_deliveries(watched)
            say(f"warm-up {WARM_UP} s, then {window} s measured ({POLLERS} clients polling {url})")
            time.sleep(WARM_UP)
            pids = (scheduler.pid, cluster.pid, server.pid)
            close_old_connections()
            start_roles = memory.roles(*pids, workers=worker_pids())
            before, cpu_before, load = memory.snapshot(start_roles), memory.cpu_seconds(start_roles), os.getloadavg()
            t0, began = timezone.now(), time.monotonic()
            while (left := window - (time.monotonic() - began)) > 0:
                time.sleep(min(30, left))
                close_old_connections()  # reconnect if PostgreSQL restarted meanwhile
                done = Run.objects.filter(scheduled_for__gte=t0).count()
                say(f"  {time.monotonic() - began:4.0f} s: {done} runs, {pollers.count()} dashboard requests")
            t1 = timezone.now()
            end_roles = memory.roles(*pids, workers=(), helpers=start_roles["qcluster monitor+pusher"])
            after, cpu = memory.snapshot(end_roles), memory.cpu_used(cpu_before, memory.cpu_seconds(end_roles))
            load = [round(max(a, b), 1) for a, b in zip(load, os.getloadavg(), strict=True)]
            pollers.stop()
            children = {"scheduler": scheduler, "qcluster": cluster, "web": server}
            exited = [name for name, child in children.items() if child.poll() is not None]
            runs = Run.objects.filter(scheduled_for__gte=t0, scheduled_for__lt=t1)
            _wait(lambda: not runs.exclude(status__in=Run.FINAL).exists(), SETTLE, "the window's runs", fail=False)
            expected = 2 * len(watched)
            _wait(lambda: len(wuzapi.messages) and _notices_sent(watched) >= expected, SETTLE, "the alerts", fail=False)
        served = upstreams.counts()
        alerting = alert_figures(watched, wuzapi, say)
    hosts = {ratelimit.host_key(site) for site in upstreams.urls}
    figures = run_figures(runs, hosts, window, say)
    dashboard = pollers.figures(t0, t1)
    rss, worst = memory.growth(before, after)
    for role, sizes in rss.items():
        say(f"  rss {role:<22} {sizes['start_mb']:7.1f} → {sizes['end_mb']:7.1f} MB  ({sizes['growth_pct']:+.1f} %)")
    say(f"  dashboard: {dashboard}")
    say(f"  CPU seconds by role: {cpu}; load average {load} on {os.cpu_count()} CPUs")
    if exited:
        say(f"  processes that exited: {', '.join(exited)}")
    failures = figures.pop("non_upstream_run_failures") + figures["unfinished_runs"]
    failures += dashboard["dashboard_5xx"] + dashboard["dashboard_errors"] + len(exited)
    return {
        "rss_growth_max_pct": worst,
        "non_upstream_failures": failures,
        "start_lag_p99_s": figures.pop("start_lag_p99_s"),
        **figures,
        **dashboard,
        "upstream_requests": served["requests"],
        "upstream_503s": served["unavailable"],
        "items_stored": Item.objects.count(),
        **alerting,
        # All the soak's processes (web included), per run that ran: what one check costs end to end.
        "cpu_ms_per_run": round(sum(cpu.values()) * 1000 / max(figures["runs_total"] - figures["skipped_runs"], 1), 1),
        "cpu_s_by_role": cpu,
        "load_avg_1m_5m_15m": load,  # the highest seen at the start or the end: was the machine busy?
        "processes_exited": exited,
        "rss": rss,
        "seconds": window,
        "warm_up_s": WARM_UP,
        "jobs": SOURCES,
        "interval_s": INTERVAL,
        "workers": WORKERS,
        "web_workers": WEB_WORKERS,
        "pollers": POLLERS,
        "quick": quick,
        "targets": TARGETS,
    }


def make_alert_sources(site, wuzapi):
    """ALERT_SOURCES sources every ALERT_INTERVAL s on the site that will go down, and one WhatsApp recipient told
    when each breaks and recovers."""
    config = kinds.clean_config("html", CONFIG)
    first = timezone.now().replace(microsecond=0) + timedelta(seconds=15)
    ratelimit.set_rate(ratelimit.host_key(site), 100_000)
    channel = Channel.objects.create(
        name="Soak WhatsApp", kind="wuzapi", config={"base_url": wuzapi.url}, secrets={"token": wuzapi.token}
    )
    person = Recipient.objects.create(channel=channel, address="5511900000000", label="Plantão")
    sources = []
    for index in range(ALERT_SOURCES):
        source = Source.objects.create(
            name=f"Soak alert source {index}",
            kind="html",
            url=f"{site}/a/{index}",
            config=config,
            timeout_seconds=5,
            interval_seconds=ALERT_INTERVAL,
            timezone="UTC",
            active_from=first + timedelta(seconds=index * ALERT_INTERVAL / ALERT_SOURCES),  # spread, as the others
        )
        sync_job(source)
        Subscription.objects.create(recipient=person, topic=source.topic, event_types=list(HEALTH_TYPES))
        sources.append(source)
    return sources


def warm_up_deliveries(sources):
    """A few messages to the alert recipient during the warm-up, so the workers have loaded the sending path
    (the channel kinds, the phone-number metadata) before memory is first measured, as they have the check's."""
    person = Recipient.objects.get(address="5511900000000")
    Subscription.objects.create(recipient=person, topic="soak:warm-up")
    for n in range(WORKERS * 6):  # spread over a few seconds, so each worker is likely to take one
        publish("soak:warm-up", {"type": "test", "channel": f"aquecimento {n}"})
        time.sleep(0.25)


def _notices(sources):
    return Delivery.objects.filter(event__topic__in=[s.topic for s in sources], event__type__in=HEALTH_TYPES)


def _notices_sent(sources):
    return _notices(sources).filter(status__in=[Delivery.Status.SENT, Delivery.Status.GROUPED]).count()


def alert_figures(sources, wuzapi, say):
    """Each alert source broken and recovered once: what reached the provider, and how long after the check
    that decided it (the event is recorded in that check's transaction). A notice grouped into another
    message arrived with that message."""
    offset = time.time() - time.monotonic()  # Arrival.at is this process's monotonic clock
    arrived = {arrival.id: arrival.at + offset for arrival in wuzapi.messages.values()}
    carriers = set()
    latencies = {kind: [] for kind in HEALTH_TYPES}
    delivered = Counter()
    for delivery in _notices(sources).select_related("event"):
        carrier = f"vigia-{delivery.grouped_into_id}" if delivery.grouped_into_id else delivery.idempotency_key
        if carrier not in arrived:
            continue
        delivered[(delivery.event.topic, delivery.event.type)] += 1
        carriers.add(carrier)
        latencies[delivery.event.type].append(arrived[carrier] - delivery.event.created_at.timestamp())
    events = Counter(
        Event.objects.filter(topic__in=[s.topic for s in sources], type__in=HEALTH_TYPES).values_list("topic", "type")
    )
    expected = [(source.topic, kind) for source in sources for kind in HEALTH_TYPES]
    missed = sum(1 for key in expected if not delivered[key])
    duplicated = sum(count - 1 for count in events.values() if count > 1)
    duplicated += sum(count - 1 for count in delivered.values() if count > 1)
    say(f"  alerts: {sum(delivered.values())} of {len(expected)} notices in {len(carriers)} WhatsApp messages")
    broken, recovered = latencies["source.broken"], latencies["source.recovered"]
    return {
        "alerts_expected": len(expected),
        "alerts_sent": sum(delivered.values()),
        "alerts_missed": missed,
        "alerts_duplicated": duplicated,
        "alert_messages": len(carriers),
        "alert_latency_p50_s": round(percentile(broken, 0.5), 3) if broken else None,
        "alert_latency_p99_s": round(percentile(broken, 0.99), 3) if broken else None,
        "recovery_latency_p50_s": round(percentile(recovered, 0.5), 3) if recovered else None,
        "recovery_latency_p99_s": round(percentile(recovered, 0.99), 3) if recovered else None,
    }


def run_figures(runs, hosts, window, say):
    """Counts, failures split by cause, and start lag of the window's runs."""
    statuses = Counter(runs.values_list("status", flat=True))
    errors = runs.filter(status__in=[Run.Status.FAILED, Run.Status.TIMED_OUT, Run.Status.CANCELLED])
    upstream, other = 0, Counter()
    for error in errors.values_list("error", flat=True):
        match = UPSTREAM_ERROR.match(error)
        if match and match.group(1) in hosts:
            upstream += 1
        else:
            other[error[:120]] += 1
    for error, count in other.most_common(10):
        say(f"  not an upstream's doing ({count}×): {error}")
    lags = [
        seconds(started - scheduled)
        for started, scheduled in runs.filter(attempt=1, started_at__isnull=False).values_list(
            "started_at", "scheduled_for"
        )
    ]
    total = sum(statuses.values())
    say(f"  runs: {dict(statuses)}")
    late = runs.filter(attempt=1, started_at__isnull=False).order_by("-started_at")
    worst = sorted(late.values_list("started_at", "scheduled_for", "job__name"), key=lambda r: r[1] - r[0])[:5]
    for started, scheduled, name in worst:
        say(f"  started late: {seconds(started - scheduled):.3f} s, {name} due {scheduled:%H:%M:%S.%f}")
    return {
        "start_lag_p99_s": percentile(lags, 0.99) if lags else None,
        "start_lag_p50_s": percentile(lags, 0.5) if lags else None,
        "start_lag_max_s": max(lags, default=None),
        "runs_total": total,
        "runs_per_s": round(total / window, 2),
        "runs_succeeded": statuses[Run.Status.SUCCEEDED],
        "skipped_runs": statuses[Run.Status.SKIPPED],
        "upstream_failures": upstream,
        "non_upstream_run_failures": sum(other.values()),
        "unfinished_runs": sum(count for status, count in statuses.items() if status not in Run.FINAL),
    }


def worker_pids():
    """Pids of the cluster's workers: those that ran a task in the last minute (Run.worker is host:pid)."""
    since = timezone.now() - timedelta(seconds=60)
    names = Run.objects.filter(started_at__gte=since).exclude(worker="").values_list("worker", flat=True)
    return {int(name.rsplit(":", 1)[1]) for name in names.distinct()}


def make_sources(sites):
    """SOURCES html sources spread over the sites, with their check_source jobs; starts spread across the
    interval, so about SOURCES / INTERVAL runs are due each second rather than all at once."""
    config = kinds.clean_config("html", CONFIG)
    first = timezone.now().replace(microsecond=0) + timedelta(seconds=15)
    for site in sites:
        ratelimit.set_rate(ratelimit.host_key(site), 100_000)  # loopback sites: no need to be polite
    for index in range(SOURCES):
        source = Source.objects.create(
            name=f"Soak organizer {index:03d}",
            kind="html",
            url=f"{sites[index % len(sites)]}/s/{index}",
            config=config,
            timeout_seconds=10,
            interval_seconds=INTERVAL,
            timezone="UTC",
            active_from=first + timedelta(seconds=index * INTERVAL / SOURCES),
        )
        sync_job(source)


def page(index, now):
    """Source `index`'s listing at `now`: 10 items, one new a minute (each source at its own moment)."""
    newest = int((now + index * 0.3) // 60)
    rows = "".join(
        f'<li class="task" data-id="{n}"><h3>Tarefa {n} da fonte {index}</h3><a href="/t/{index}/{n}">ver</a>'
        f"<p>{'Descrição da tarefa com acentuação. ' * 4}</p></li>"
        for n in range(newest, newest - 10, -1)
    )
    return f"<html><head><meta charset='utf-8'><title>Tarefas</title></head><body><ul>{rows}</ul></body></html>"


def down(index, now):
    """Each source's site is unavailable for one 30-second window in 100, a different one per source."""
    return (int(now // 30) + index) % 100 == 0


class Upstreams:
    """`count` loopback organizer sites (one port each) served by a forked process, so serving them never
    competes with the pollers for this process's GIL. Counts requests and 503s in shared memory."""

    def __init__(self, count, outage):
        # The last site is the one that goes down, from OUTAGE_AT seconds from now for `outage` seconds.
        self.outage_from = time.time() + OUTAGE_AT
        self.outage_until = self.outage_from + outage
        context = multiprocessing.get_context("fork")
        self.requests, self.unavailable = context.Value("q", 0), context.Value("q", 0)
        # GET only, one request per connection (HTTP/1.0); no request log: the child would grow for nothing
        self.servers = [
            LoopbackServer(self._answer, methods=("GET",), protocol="HTTP/1.0", record=False).bind()
            for _ in range(count)
        ]
        self.urls = [server.url for server in self.servers]
        self.process = context.Process(target=self._serve, daemon=True)

    def __enter__(self):
        self.process.start()
        for server in self.servers:
            server.stop()  # the child holds its own copy of each listening socket: close ours
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.join(10)

    def counts(self):
        return {"requests": self.requests.value, "unavailable": self.unavailable.value}

    def _serve(self):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the bench command's unwinding handler
        for server in self.servers[1:]:
            server.start()
        self.servers[0].serve_forever()

    def _answer(self, request):
        index = int(request.target.rsplit("/", 1)[1]) if request.target.startswith(("/s/", "/a/")) else 0
        now = time.time()
        with self.requests.get_lock():
            self.requests.value += 1
        outage = request.target.startswith("/a/") and self.outage_from <= now < self.outage_until
        if outage or (request.target.startswith("/s/") and down(index, now)):
            with self.unavailable.get_lock():
                self.unavailable.value += 1
            status, payload = 503, b"busy"
        else:
            status, payload = 200, page(index, now).encode()
        return Response(status, payload, {"Content-Type": "text/html; charset=utf-8"})


@contextmanager
def web(env, log_dir, say):
    """gunicorn with WEB_WORKERS workers on a free loopback port; yields (process, base URL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bind, url = f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    hosts = ",".join([*settings.ALLOWED_HOSTS, "127.0.0.1"])
    env = {**env, "WEB_CONCURRENCY": str(WEB_WORKERS), "VIGIA_BIND": bind, "ALLOWED_HOSTS": hosts, "VIGIA_HTTPS": "0"}
    say("collectstatic and createcachetable, as a deployment does (DEBUG is off: pages need the manifest)")
    for command in (["collectstatic", "--noinput"], ["createcachetable"]):  # the cache: login throttling
        subprocess.run([sys.executable, str(MANAGE), *command, "-v0"], env=env, check=True)
    args = [sys.executable, "-m", "gunicorn"]
    conf = settings.BASE_DIR / "deploy" / "gunicorn.conf.py"
    if conf.exists():
        args += ["-c", str(conf)]
    args += ["--workers", str(WEB_WORKERS), "--bind", bind, "config.wsgi"]  # whatever the file says
    log = open(log_dir / "bench-web.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        args, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        _wait(lambda: _answers(f"{url}/accounts/login/"), 60, "gunicorn")
        yield process, url
    finally:
        stop(process)
        log.close()


def _answers(url):
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Pollers:
    """POLLERS clients, each logged in through the login form, requesting PAGES every POLL_EVERY s."""

    def __init__(self, url, users):
        self.url, self.users = url, users
        self.halt, self.lock = threading.Event(), threading.Lock()
        self.samples = []  # (time.time(), path, status or None, ms, problem)
        self.logins = []  # None for a client logged in, else what went wrong
        self.threads = [threading.Thread(target=self._poll, args=(user,), daemon=True) for user in users]

    def start(self):
        for thread in self.threads:
            thread.start()
        _wait(lambda: len(self.logins) == len(self.users), 60, "the clients to log in")
        problems = [problem for problem in self.logins if problem]
        if problems:
            self.stop()
            raise CommandError(f"dashboard login failed: {problems[0]}")

    def stop(self):
        self.halt.set()
        for thread in self.threads:
            thread.join(40)

    def count(self):
        return len(self.samples)

    def _poll(self, username):
        with httpx.Client(base_url=self.url, timeout=30) as http:
            try:
                self._login(http, username)
            except Exception as error:  # noqa: BLE001 - reported by start()
                self.logins.append(f"{username}: {error!r}")
                return
            self.logins.append(None)
            while not self.halt.is_set():
                began = time.monotonic()
                for path, headers in PAGES:
                    self._get(http, path, headers)
                self.halt.wait(max(0.0, POLL_EVERY - (time.monotonic() - began)))

    def _login(self, http, username):
        form = http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        if form.status_code != 200 or not token:
            raise CommandError(f"login page answered {form.status_code} without a CSRF token")
        data = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)}
        answer = http.post("/accounts/login/", data=data, headers={"Referer": f"{self.url}/accounts/login/"})
        if answer.status_code != 302 or "/accounts/login/" in answer.headers.get("location", ""):
            raise CommandError(f"login answered {answer.status_code}, not a redirect into the dashboard")
        if http.get("/").status_code != 200:
            raise CommandError("the overview is not shown after logging in (is the session cookie Secure?)")

    def _get(self, http, path, headers):
        began, status, problem = time.perf_counter(), None, ""
        try:
            response = http.get(path, headers=headers)
            status = response.status_code
        except httpx.HTTPError as error:
            problem = f"{type(error).__name__}: {error}"
        with self.lock:
            self.samples.append((time.time(), path, status, (time.perf_counter() - began) * 1000, problem))

    def figures(self, t0, t1):
        start, end = t0.timestamp(), t1.timestamp()
        window = [sample for sample in self.samples if start <= sample[0] < end]
        timings = [ms for _, _, status, ms, _ in window if status == 200]
        return {
            "dashboard_requests": len(window),
            "dashboard_5xx": sum(1 for sample in window if sample[2] and sample[2] >= 500),
            "dashboard_errors": sum(1 for sample in window if sample[2] is None),
            "dashboard_other_non_200": sum(
                1 for sample in window if sample[2] and sample[2] != 200 and sample[2] < 500
            ),
            "dashboard_p50_ms": round(percentile(timings, 0.5), 1) if timings else None,
            "dashboard_p95_ms": round(percentile(timings, 0.95), 1) if timings else None,
        }


def _wait(predicate, timeout, what, fail=True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()  # this process idles between queries: a restarted PostgreSQL is survived
        if predicate():
            return True
        time.sleep(0.2)
    if fail:
        raise CommandError(f"waited {timeout} s for {what}")
    return False
