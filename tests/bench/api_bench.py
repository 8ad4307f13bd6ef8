"""`bench api`: latency and throughput of the JSON API (/api/v1/) on big tables, served as deployed.

PostgreSQL only (the figures are for it). Seeds 100,000 jobs (cron, interval, once and on-demand, noop and
HTTP calls, 70 % with an external (service, key), 10 % disabled, the rest due months from now: no engine
runs during the bench, none is needed) and 100,000 publications over 1,000 monitored people (every tenth
matched to a second person), in bulk (INSERT … SELECT FROM generate_series), then VACUUM ANALYZE.

gunicorn as deployed (deploy/gunicorn.conf.py: its worker count and class, DEBUG off) on a free loopback
port; two API tokens with every scope: "bench" with its own rate (10,000,000 a minute: the per-token
rate step runs, as deployed, but never throttles) and "bench-unlimited" with none while the server's
VIGIA_API_RATE_PER_MINUTE is 0 (no rate step at all), to price that step. httpx clients (keep-alive where
the server offers it: gunicorn's sync workers close every connection), after a warm-up of every operation:

- create_job: POST /api/v1/jobs, a new (service, key) each (1,000; --quick 150);
- get_job: GET /api/v1/jobs/{id}, random ids across the table (1,000; --quick 150), alternating with the
  same through the unlimited token (get_job_no_rate_*; rate_step_ms_p50 is the difference of the medians);
- list_jobs: GET /api/v1/jobs?cursor=…&limit=50, one in ten the first page, the rest a cursor at a random
  job deep in the table;
- publications_since: GET /api/v1/publications?since=…&limit=100 from a random feed entry (the feed lists
  PublicationMatch rows: one per publication and person), every other one filtered to a person;
- upserts_per_s: 4 client threads PUT /api/v1/jobs/by-key/bench/{key} for 20 s (--quick 5 s), half on keys
  that exist, half on new ones; answers per second.

Per operation p50/p95/p99 (ms, measured by the client: connection, server, answer), CPU of the gunicorn
workers per request (/proc: the live workers' and the master's reaped children's; cpu_ms_per_request over
every measured request) and of the PostgreSQL backends serving them, and database statements per request
(tests.bench.querycount in the workers; Django's own connection health check is not counted).
--quick: 10,000 jobs and 10,000 publications over 100 people, fewer requests; under a minute.
"""

import base64
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management import CommandError
from django.db import connection
from django.db.models.expressions import DatabaseDefault
from django.utils import timezone

from channels_app import tokens
from scheduler.models import Job
from scheduler.processes import stop
from scheduler.shared.api_callers import SCOPES
from scrapers.models import MonitoredPerson, Publication, PublicationMatch
from scrapers.people.brazil import normalize_name
from tests.bench import register
from tests.bench.dashboard_bench import FIRST, SURNAMES, without_indexes
from tests.bench.figures import percentile
from tests.bench.querycount import total as queries_counted

TARGETS = {
    "create_job_p95_ms": 25,
    "get_job_p95_ms": 10,
    "list_jobs_p95_ms": 30,
    "publications_since_p95_ms": 30,
    "upserts_per_s": 300,  # a floor; the others are ceilings
}
FULL = {"jobs": 100_000, "publications": 100_000, "people": 1_000, "requests": 1_000, "upsert_s": 20, "warm_up": 30}
QUICK = {"jobs": 10_000, "publications": 10_000, "people": 100, "requests": 150, "upsert_s": 5, "warm_up": 8}
CLIENTS = 4  # concurrent upserting clients
SERVICE = "bench"  # the seeded service the upserts use
SERVICES = [SERVICE, "billing", "crm", "ops"]
CRONS = ["0 3 * * *", "30 9 * * 1-5", "0 0 1 * *", "15 */6 * * *", "0 12 * * 0", "0 1 15 8 *", "*/30 8-18 * * 1-5"]
ZONES = ["America/Sao_Paulo", "UTC", "Europe/Lisbon", "America/Manaus"]
JOB_BODY = {
    "kind": "noop",
    "params": {},
    "schedule_type": "cron",
    "cron": "0 1 15 8 *",
    "timezone": "America/Sao_Paulo",
    "max_occurrences": 12,
}


def encode(pk):
    """scheduler.shared.api.encode, restated so the bench does not depend on the cursor's implementation."""
    return base64.urlsafe_b64encode(str(pk).encode()).decode().rstrip("=")


@register("api")
def run(env, quick, say, log_dir):
    if connection.vendor != "postgresql":
        raise CommandError(
            "bench api measures the API on PostgreSQL (its targets are PostgreSQL's, and it seeds with "
            "generate_series): set DATABASE_URL=postgres://… and run it again"
        )
    size = QUICK if quick else FULL
    limited, limited_raw = tokens.create("bench", scopes=SCOPES, rate_per_minute=10_000_000)
    _unlimited, unlimited_raw = tokens.create("bench-unlimited", scopes=SCOPES)
    caller = f"token:{limited.pk}"  # the seeded (service, key) pairs are the bench token's: upserts may touch them
    say(f"seeding {size['jobs']:,} jobs and {size['publications']:,} publications over {size['people']:,} people")
    began = time.perf_counter()
    seed(size, caller, say)
    seed_s = round(time.perf_counter() - began, 1)
    job_ids = list(Job.objects.order_by("pk").values_list("pk", flat=True))
    publications = Publication.objects.count()
    # The feed's entries are the matches (one per publication and person): its cursors are theirs.
    entry_ids = list(PublicationMatch.objects.order_by("pk").values_list("pk", flat=True))
    person_ids = list(MonitoredPerson.objects.values_list("pk", flat=True))
    keys = list(Job.objects.filter(external_service=SERVICE).values_list("external_key", flat=True))
    say(
        f"seeded in {seed_s} s: {len(job_ids):,} jobs ({len(keys):,} of service {SERVICE!r}), "
        f"{publications:,} publications ({len(entry_ids):,} feed entries)"
    )
    counts = log_dir / "queries"
    counts.mkdir()
    figures = {}
    with web(env, log_dir, counts, say) as (server, url):
        ops = operations(url)
        workers = gunicorn_workers(server.pid)
        say(f"gunicorn up at {url}: {len(workers)} workers ({ops['worker_class']})")
        meter = Meter(server.pid, counts)
        bench = Bench(url, limited_raw, unlimited_raw, ops, say)
        rng = random.Random(6)
        bench.warm_up(size["warm_up"], job_ids, entry_ids, person_ids, keys, rng)
        n = size["requests"]

        with meter.phase(figures, "create_job", say) as counted:
            stamp = time.time_ns()
            bodies = [
                {"service": SERVICE, "key": f"new-{stamp}-{i}", **JOB_BODY, "cron": rng.choice(CRONS)} for i in range(n)
            ]
            figures.update(bench.series("create_job", [("POST", ops["create"], body) for body in bodies], {201}))
            counted(n)

        with meter.phase(figures, "get_job", say) as counted:
            ids = [rng.choice(job_ids) for _ in range(n)]
            paths = [ops["get"].format(id=pk) for pk in ids]
            figures.update(bench.paired("get_job", paths))
            counted(2 * n)

        with meter.phase(figures, "list_jobs", say) as counted:
            # One page in ten is the first; the others start at a random job at least a page from the oldest.
            deep = job_ids[60:]
            paths = [
                f"{ops['list']}?limit=50"
                if i % 10 == 0
                else f"{ops['list']}?cursor={encode(rng.choice(deep))}&limit=50"
                for i in range(n)
            ]
            figures.update(bench.series("list_jobs", [("GET", path, None) for path in paths], {200}, page=50))
            counted(n)

        with meter.phase(figures, "publications_since", say) as counted:
            deep = entry_ids[: max(1, len(entry_ids) - 150)]
            paths = []
            for i in range(n):
                path = f"{ops['publications']}?since={encode(rng.choice(deep))}&limit=100"
                if i % 2 and ops["person_param"]:
                    path += f"&{ops['person_param']}={rng.choice(person_ids)}"
                paths.append(path)
            timed = bench.series("publications_since", [("GET", path, None) for path in paths], {200})
            figures.update(timed)
            counted(n)

        with meter.phase(figures, "upsert", say) as counted:
            upserts = bench.upserts(keys, size["upsert_s"], rng)
            counted(upserts.pop("_requests"))
            figures.update(upserts)

        figures["gunicorn_workers"] = len(workers)
        figures["gunicorn_worker_class"] = ops["worker_class"]
        figures["worker_pids_seen"] = len(meter.seen)  # more than the workers: some were recycled (max_requests)
        figures["cpu_ms_per_request"] = round(meter.cpu_s * 1000 / max(meter.requests, 1), 2)
    rate_step = round(figures["get_job_p50_ms"] - figures["get_job_no_rate_p50_ms"], 2)
    missed = [
        name
        for name, target in TARGETS.items()
        if figures.get(name) is None or (figures[name] < target if name == "upserts_per_s" else figures[name] > target)
    ]
    say(f"rate step (per-token rate on vs off, get_job p50): {rate_step} ms")
    say("targets missed: " + (", ".join(missed) if missed else "none"))
    headline = {name: figures.pop(name) for name in TARGETS}
    return {
        **headline,
        **figures,
        "rate_step_ms_p50": rate_step,
        "jobs": len(job_ids),
        "publications": publications,
        "feed_entries": len(entry_ids),
        "people": len(person_ids),
        "seed_s": seed_s,
        "requests_per_figure": n,
        "upsert_clients": CLIENTS,
        "cpus": os.cpu_count(),
        "load_avg_1m_max": round(max(meter.loads), 1),  # was the machine busy with something else?
        "quick": quick,
        "missed": missed,
        "targets": TARGETS,
    }


# --- The server --------------------------------------------------------------------------------------------
@contextmanager
def web(env, log_dir, counts, say):
    """gunicorn as deployed (deploy/gunicorn.conf.py decides workers and worker class) on a free loopback
    port; yields (process, base URL); stopped, group and all, however the block ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bind, url = f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    hosts = ",".join(dict.fromkeys([*settings.ALLOWED_HOSTS, "127.0.0.1"]))
    static = log_dir / "static"
    static.mkdir()
    env = {
        **env,
        "DEBUG": "0",
        "VIGIA_BIND": bind,
        "ALLOWED_HOSTS": hosts,
        "VIGIA_HTTPS": "0",
        "VIGIA_STATIC_ROOT": str(static),  # the API serves no static file: nothing to collect
        "VIGIA_API_RATE_PER_MINUTE": "0",  # only for the unlimited token: the bench token has its own rate
        "VIGIA_COUNT_QUERIES_DIR": str(counts),
        "VIGIA_LOG_LEVEL": "WARNING",
    }
    conf = Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"
    args = [sys.executable, "-m", "gunicorn", "-c", str(conf), "config.wsgi"]
    log = open(log_dir / "bench-web.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        args, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while not _healthy(f"{url}/healthz?probe=db"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (log_dir / "bench-web.log").read_text(errors="replace")[-2000:]
                raise CommandError(f"gunicorn did not answer /healthz?probe=db; its log ends:\n{tail}")
            time.sleep(0.2)
        yield process, url
    finally:
        stop(process)
        log.close()


def _healthy(url):
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def operations(url):
    """The operations' paths, read from the OpenAPI document the server publishes; a clear failure when
    one is missing."""
    answer = httpx.get(f"{url}/api/v1/openapi.json", timeout=30)
    if answer.status_code != 200:
        raise CommandError(f"/api/v1/openapi.json answered {answer.status_code}")
    paths = answer.json().get("paths", {})

    def find(method, test, what):
        for path, item in paths.items():
            if method in item and test(path):
                return path, item[method]
        raise CommandError(f"the API has no {method.upper()} {what} (paths: {', '.join(sorted(paths))})")

    create, _ = find("post", lambda p: p.rstrip("/").endswith("/jobs"), "/api/v1/jobs")
    listing, _ = find("get", lambda p: p.rstrip("/").endswith("/jobs"), "/api/v1/jobs")
    get, _ = find("get", lambda p: p.rsplit("/", 2)[-2] == "jobs" and p.endswith("}"), "/api/v1/jobs/{id}")
    upsert, _ = find("put", lambda p: "/jobs/by-key/" in p, "/api/v1/jobs/by-key/{service}/{key}")
    feed, operation = find("get", lambda p: p.rstrip("/").endswith("/publications"), "/api/v1/publications")
    names = {parameter.get("name") for parameter in operation.get("parameters", [])}
    if "since" not in names:
        raise CommandError(f"GET {feed} takes no ?since= (its parameters: {sorted(names)})")
    person = next((name for name in ("person", "person_id") if name in names), None)
    # "/api/v1/jobs/{job_id}" -> "/api/v1/jobs/{id}"; "/api/v1/jobs/by-key/{service}/{key}" as it is
    return {
        "create": create,
        "list": listing,
        "get": get.rsplit("/", 1)[0] + "/{id}",
        "upsert": upsert.split("/by-key/")[0] + "/by-key/{service}/{key}",
        "publications": feed,
        "person_param": person,
        "worker_class": _worker_class(),
    }


def _worker_class():
    """The worker class deploy/gunicorn.conf.py sets, or gunicorn's default."""
    conf = {}
    path = Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"
    exec(compile(path.read_text(), str(path), "exec"), conf)  # noqa: S102 - our own config file
    return str(conf.get("worker_class", "sync"))


# --- Measuring -------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, url, raw, unlimited_raw, ops, say):
        self.url, self.ops, self.say = url, ops, say
        self.headers = {"Authorization": f"Bearer {raw}"}
        self.unlimited = {"Authorization": f"Bearer {unlimited_raw}"}
        self.client = httpx.Client(base_url=url, headers=self.headers, timeout=30)

    def request(self, client, method, path, body=None, headers=None):
        """(ms, response) of one request."""
        began = time.perf_counter()
        response = client.request(method, path, json=body, headers=headers)
        return (time.perf_counter() - began) * 1000, response

    def expect(self, response, statuses, what):
        if response.status_code not in statuses:
            raise CommandError(f"{what} answered {response.status_code}, not {sorted(statuses)}: {response.text[:500]}")

    def warm_up(self, count, job_ids, entry_ids, person_ids, keys, rng):
        """Every operation `count` times (each worker imports, connects and fills its caches), and the
        answers' shapes checked once."""
        stamp = time.time_ns()
        for i in range(count):
            pk = rng.choice(job_ids)
            _, answer = self.request(self.client, "GET", self.ops["get"].format(id=pk))
            self.expect(answer, {200}, f"GET {self.ops['get']}")
            if i == 0 and answer.json().get("id") != pk:
                raise CommandError(f"GET {self.ops['get'].format(id=pk)} answered another job: {answer.text[:300]}")
            _, answer = self.request(self.client, "GET", self.ops["get"].format(id=pk), headers=self.unlimited)
            self.expect(answer, {200}, f"GET {self.ops['get']} (unlimited token)")
            _, answer = self.request(self.client, "GET", f"{self.ops['list']}?cursor={encode(pk)}&limit=50")
            self.expect(answer, {200}, f"GET {self.ops['list']}")
            if i == 0:
                page = answer.json()
                ids = [item["id"] for item in page["items"]]
                if not ids or ids != sorted(ids, reverse=True) or ids[0] >= pk or "next_cursor" not in page:
                    raise CommandError(f"GET {self.ops['list']}?cursor= is not a page newest first before {pk}: {ids}")
            since = rng.choice(entry_ids[:-150] or entry_ids)
            _, answer = self.request(self.client, "GET", f"{self.ops['publications']}?since={encode(since)}&limit=100")
            self.expect(answer, {200}, f"GET {self.ops['publications']}")
            if i == 0:
                feed = answer.json()
                ids = [item["id"] for item in feed["items"]]
                if len(ids) != 100 or ids != sorted(ids) or ids[0] <= since or "next_since" not in feed:
                    raise CommandError(
                        f"GET {self.ops['publications']}?since= is not 100 publications oldest first after {since}"
                        f" (settled? VIGIA_API_FEED_SETTLE): {len(ids)} {ids[:5]}…"
                    )
            if self.ops["person_param"]:
                path = f"{self.ops['publications']}?since={encode(since)}&limit=100"
                path += f"&{self.ops['person_param']}={rng.choice(person_ids)}"
                _, answer = self.request(self.client, "GET", path)
                self.expect(answer, {200}, f"GET {path}")
            body = {"service": SERVICE, "key": f"warm-{stamp}-{i}", **JOB_BODY}
            _, answer = self.request(self.client, "POST", self.ops["create"], body)
            self.expect(answer, {201}, f"POST {self.ops['create']} (a new pair)")
            _, answer = self.request(self.client, "POST", self.ops["create"], body)
            self.expect(answer, {200}, f"POST {self.ops['create']} (the same pair again)")
            path = self.ops["upsert"].format(service=SERVICE, key=rng.choice(keys))
            _, answer = self.request(self.client, "PUT", path, JOB_BODY)
            self.expect(answer, {200}, f"PUT {path} (an existing pair)")
        self.say(f"warmed up: {count} of every operation")

    def series(self, name, requests, statuses, page=None):
        """p50/p95/p99 of `requests` (method, path, body) one after another."""
        timings = []
        for method, path, body in requests:
            ms, answer = self.request(self.client, method, path, body)
            self.expect(answer, statuses, f"{method} {path}")
            if page and len(answer.json()["items"]) != page:
                raise CommandError(f"{method} {path} answered {len(answer.json()['items'])} items, not {page}")
            timings.append(ms)
        return spread(name, timings)

    def paired(self, name, paths):
        """Each path through the bench token and through the unlimited one, alternately."""
        limited, unlimited = [], []
        for path in paths:
            ms, answer = self.request(self.client, "GET", path)
            self.expect(answer, {200}, f"GET {path}")
            limited.append(ms)
            ms, answer = self.request(self.client, "GET", path, headers=self.unlimited)
            self.expect(answer, {200}, f"GET {path} (unlimited token)")
            unlimited.append(ms)
        return {**spread(name, limited), **spread(f"{name}_no_rate", unlimited)}

    def upserts(self, keys, duration, rng):
        """CLIENTS threads PUT by key for `duration` s, half existing keys, half new; answers per second."""
        stamp, start, stop_at = time.time_ns(), threading.Barrier(CLIENTS + 1), [0.0]
        results = [{"timings": [], "statuses": {}, "problem": None} for _ in range(CLIENTS)]
        seeds = [rng.randrange(2**32) for _ in range(CLIENTS)]

        def client(index):
            own, result = random.Random(seeds[index]), results[index]
            with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as http:
                start.wait()
                n = 0
                while time.perf_counter() < stop_at[0]:
                    key = own.choice(keys) if n % 2 else f"up-{stamp}-{index}-{n}"
                    body = {**JOB_BODY, "cron": own.choice(CRONS), "max_occurrences": own.randint(1, 50)}
                    try:
                        ms, answer = self.request(
                            http, "PUT", self.ops["upsert"].format(service=SERVICE, key=key), body
                        )
                    except httpx.HTTPError as error:
                        result["problem"] = f"{type(error).__name__}: {error}"
                        return
                    result["statuses"][answer.status_code] = result["statuses"].get(answer.status_code, 0) + 1
                    if answer.status_code in (200, 201):
                        result["timings"].append(ms)
                    elif result["problem"] is None:
                        result["problem"] = f"PUT {key} answered {answer.status_code}: {answer.text[:300]}"
                    n += 1

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        stop_at[0] = time.perf_counter() + duration
        began = time.perf_counter()
        start.wait()
        for thread in threads:
            thread.join(duration + 60)
        elapsed = time.perf_counter() - began
        statuses = {}
        for result in results:
            for status, count in result["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        problems = [result["problem"] for result in results if result["problem"]]
        if problems:
            raise CommandError(f"upserts failed ({statuses}): {problems[0]}")
        timings = [ms for result in results for ms in result["timings"]]
        done = statuses.get(200, 0) + statuses.get(201, 0)
        return {
            "upserts_per_s": round(done / elapsed, 1),
            **spread("upsert", timings),
            "upserts_created": statuses.get(201, 0),
            "upserts_updated": statuses.get(200, 0),
            "upsert_seconds": round(elapsed, 1),
            "_requests": sum(statuses.values()),
        }


def spread(name, timings):
    return {
        f"{name}_p50_ms": round(percentile(timings, 0.5), 1),
        f"{name}_p95_ms": round(percentile(timings, 0.95), 1),
        f"{name}_p99_ms": round(percentile(timings, 0.99), 1),
    }


class Meter:
    """CPU of the gunicorn workers and of the PostgreSQL backends serving them, and the statements the
    workers ran, per request of a phase."""

    def __init__(self, master, counts):
        self.master, self.counts, self.seen = master, counts, set()
        self.cpu_s, self.requests, self.loads = 0.0, 0, []
        self.last = None  # the reading at the end of the previous phase, which starts the next

    def reading(self):
        time.sleep(1.2)  # the workers write their statement counts every second
        return self.web_cpu(), self.db_cpu(), queries_counted(self.counts)

    @contextmanager
    def phase(self, figures, name, say):
        requests = [0]
        before = self.last or self.reading()
        began = time.perf_counter()
        yield lambda count: requests.__setitem__(0, count)
        elapsed = time.perf_counter() - began
        self.last = web_now, db_now, queries_now = self.reading()
        n = max(requests[0], 1)
        self.cpu_s, self.requests = self.cpu_s + web_now - before[0], self.requests + requests[0]
        self.loads.append(os.getloadavg()[0])
        figures[f"{name}_cpu_ms_per_request"] = round((web_now - before[0]) * 1000 / n, 2)
        figures[f"{name}_db_cpu_ms_per_request"] = round(
            sum(used - before[1].get(pid, 0.0) for pid, used in db_now.items()) * 1000 / n, 2
        )
        figures[f"{name}_queries_per_request"] = round((queries_now - before[2]) / n, 1)
        shown = {key: value for key, value in figures.items() if key.startswith(f"{name}_") or key == "upserts_per_s"}
        say(f"  {name}: {requests[0]} requests in {elapsed:.1f} s: {json.dumps(shown)}")

    def web_cpu(self):
        """CPU seconds of the master's workers: the live ones, and those reaped (recycled after max_requests)
        as the master's children's time."""
        master = _stat(self.master)
        used = (int(master[13]) + int(master[14])) / TICK if master else 0.0  # cutime, cstime
        for pid in gunicorn_workers(self.master):
            self.seen.add(pid)
            fields = _stat(pid)
            if fields:
                used += (int(fields[11]) + int(fields[12])) / TICK
        return used

    def db_cpu(self):
        """{backend pid: CPU seconds} of every other connection to the bench database (the workers')."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            pids = [row[0] for row in cursor.fetchall()]
        found = {}
        for pid in pids:
            fields = _stat(pid)
            if fields:
                found[pid] = (int(fields[11]) + int(fields[12])) / TICK
        return found


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """/proc/<pid>/stat's fields after the command name (utime is [11], stime [12], cutime [13], cstime [14])."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def gunicorn_workers(master):
    try:
        return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        from tests.bench.memory import children_by_parent

        return children_by_parent().get(master, [])


# --- Seeding ---------------------------------------------------------------------------------------------
def seed(size, caller, say):
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")  # a throwaway database: no need to wait for the disk
        cursor.execute("SET maintenance_work_mem = '256MB'")
    step(say, "jobs", lambda: seed_jobs(size["jobs"], caller, now), [Job])
    step(say, "people", lambda: seed_people(size["people"], now), [MonitoredPerson])
    step(
        say,
        "publications",
        lambda: seed_publications(size["publications"], now),
        [Publication, PublicationMatch],
    )
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # statistics and the visibility map, as autovacuum would leave them
    say(f"  vacuum analyze {time.perf_counter() - began:.1f} s")


def step(say, name, function, models):
    began = time.perf_counter()
    with without_indexes(models):
        function()
    say(f"  {name} {time.perf_counter() - began:.1f} s")


def insert_select(model, expressions, source, params):
    """INSERT INTO the model's table SELECT … FROM `source`: the columns `expressions` names take that SQL,
    every other column its field's default (a column added to the model later needs no change here)."""
    columns, values, args = [], [], dict(params)
    for index, field in enumerate(model._meta.concrete_fields):
        if field.primary_key:
            continue
        if field.column in expressions:
            columns.append(connection.ops.quote_name(field.column))
            values.append(expressions[field.column])
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = timezone.now()
        else:
            value = field.get_default()
        if isinstance(value, DatabaseDefault):
            continue
        columns.append(connection.ops.quote_name(field.column))
        values.append(f"%(default_{index})s")
        args[f"default_{index}"] = field.get_db_prep_save(value, connection)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}", args)


def seed_jobs(count, caller, now):
    """Oldest first (ids follow created_at). By g mod 10: 0-5 cron, 6-7 interval, 8 once (months ahead),
    9 on demand; a quarter are HTTP calls; 7 in 10 carry an external (service, key), a quarter of those the
    bench's service; one in 10 is disabled; the rest are due 30-360 days from now."""
    kind = "CASE WHEN mod(g, 4) = 0 THEN 'http_request' ELSE 'noop' END"
    schedule = (
        "CASE WHEN mod(g, 10) < 6 THEN 'cron' WHEN mod(g, 10) < 8 THEN 'interval'"
        " WHEN mod(g, 10) = 8 THEN 'once' ELSE 'manual' END"
    )
    later = "%(now)s::timestamptz + make_interval(days => 30 + mod(g * 7, 330)::int, secs => mod(g * 13, 86400)::int)"
    enabled = "mod(g, 10) <> 3"
    external = "mod(g, 10) < 7"
    insert_select(
        Job,
        {
            "name": "'api bench job ' || g",
            "kind": kind,
            "params": """CASE WHEN mod(g, 4) = 0 THEN jsonb_build_object('url', 'https://service' || mod(g, 50)
                || '.example/hooks/' || g, 'method', 'POST', 'json', jsonb_build_object('job', g))
                ELSE '{}'::jsonb END""",
            "schedule_type": schedule,
            "cron": "CASE WHEN mod(g, 10) < 6 THEN (%(crons)s::text[])[1 + mod(g / 10, %(ncrons)s)] ELSE '' END",
            "timezone": "(%(zones)s::text[])[1 + mod(g / 3, %(nzones)s)]",
            "interval_seconds": (
                "CASE WHEN mod(g, 10) IN (6, 7) THEN (ARRAY[300, 900, 3600, 86400])[1 + mod(g / 10, 4)] END"
            ),
            "run_at": f"CASE WHEN mod(g, 10) = 8 THEN {later} END",
            "max_occurrences": "CASE WHEN mod(g, 7) = 0 THEN 12 END",
            "enabled": enabled,
            "next_run_at": f"CASE WHEN {enabled} AND mod(g, 10) <> 9 THEN {later} END",
            "last_scheduled_for": (
                "CASE WHEN mod(g, 3) = 0 THEN %(now)s::timestamptz - make_interval(days => 1 + mod(g, 20)::int) END"
            ),
            "occurrences": "CASE WHEN mod(g, 3) = 0 THEN 1 + mod(g, 11) ELSE 0 END",
            "external_service": f"CASE WHEN {external} THEN (%(services)s::text[])[1 + mod(g / 10, 4)] END",
            "external_key": f"CASE WHEN {external} THEN 'k' || g END",
            "api_caller": f"CASE WHEN {external} THEN %(caller)s ELSE '' END",
            "created_at": "%(now)s::timestamptz - make_interval(secs => (%(n)s - g) * 60)",
            "updated_at": "%(now)s::timestamptz - make_interval(secs => (%(n)s - g) * 60)",
        },
        "generate_series(1::bigint, %(n)s) AS g",
        {
            "n": count,
            "now": now,
            "crons": CRONS,
            "ncrons": len(CRONS),
            "zones": ZONES,
            "nzones": len(ZONES),
            "services": SERVICES,
            "caller": caller,
        },
    )


def seed_people(count, now):
    first, surnames = FIRST.split(), SURNAMES.split()
    people = []
    for n in range(count):
        name = f"{first[n % 40]} {surnames[n // 40 % 40]} {surnames[n // 1600 % 40]} {n}"
        people.append(
            MonitoredPerson(
                name=name,
                normalized_name=normalize_name(name),
                last_checked_at=now - timedelta(minutes=n % 180),
                last_success_at=now - timedelta(minutes=n % 180),
                first_check=MonitoredPerson.FirstCheck.DONE,
                created_at=now - timedelta(days=40),
            )
        )
    MonitoredPerson.objects.bulk_create(people, batch_size=2000)


def seed_publications(count, now):
    """Oldest first over the last 30 days (and at least a minute old: past any feed's settle window), each
    matched to one person, every tenth to a second one."""
    seen = "%(now)s::timestamptz - interval '1 minute' - %(span)s::interval * ((%(n)s - g)::float8 / %(n)s)"
    expressions = {
        "djen_id": "500000000 + g",
        "hash": "md5(g::text)",
        "date": f"({seen})::date",
        "tribunal": "(ARRAY['TJSP', 'TRT2', 'TJRJ', 'TRF3', 'STJ'])[1 + mod(g, 5)]",
        "communication_type": "'Intimação'",
        "organ": "'Vara Cível ' || mod(g, 40)",
        "process_number": "lpad(g::text, 20, '0')",
        "process_number_masked": "lpad(g::text, 20, '0')",
        "class_name": "'Procedimento Comum Cível'",
        "class_code": "'7'",
        "document_type": "'Despacho'",
        "medium": "'D'",
        "number": "''",
        "text": (
            "'Fica intimada a parte para se manifestar no prazo legal. ' || repeat('Texto. ', 20 + mod(g, 40)::int)"
        ),
        "link": "'https://comunica.pje.jus.br/' || g",
        "recipients": "jsonb_build_array(jsonb_build_object('nome', 'Parte ' || g))",
        "lawyers": "'[]'::jsonb",
        "first_seen": seen,
    }
    # A settle window may be read from a created_at the feed's helper adds: the same moment.
    if any(field.column == "created_at" for field in Publication._meta.concrete_fields):
        expressions["created_at"] = seen
    insert_select(
        Publication,
        expressions,
        "generate_series(1::bigint, %(n)s) AS g",
        {"n": count, "now": now, "span": timedelta(days=30)},
    )
    publications = connection.ops.quote_name(Publication._meta.db_table)
    people = connection.ops.quote_name(MonitoredPerson._meta.db_table)
    insert_select(
        PublicationMatch,
        {
            "person_id": "people.ids[1 + mod(p.id * 7919, cardinality(people.ids))]",
            "publication_id": "p.id",
            "how": "'name'",
            "matched_at": "p.first_seen",
        },
        f"{publications} p, (SELECT array_agg(id ORDER BY id) AS ids FROM {people}) people",
        {},
    )
    insert_select(
        PublicationMatch,
        {
            "person_id": "people.ids[1 + mod(p.id * 7919 + 1, cardinality(people.ids))]",
            "publication_id": "p.id",
            "how": "'oab'",
            "matched_at": "p.first_seen",
        },
        f"{publications} p, (SELECT array_agg(id ORDER BY id) AS ids FROM {people}) people WHERE mod(p.id, 10) = 0",
        {},
    )
