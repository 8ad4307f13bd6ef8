"""`bench dashboard`: server time of the dashboard's pages on a big PostgreSQL database.

Seeds 1,000,000 runs over 100 jobs and the last 30 days, 1,000,000 items over 50 sources, 10,000 monitored
people (with 20,000 publications) and 100,000 deliveries over 4 channels, in bulk (INSERT … SELECT FROM
generate_series), then ANALYZE. Logged in as staff, in-process (django.test.Client: middleware, view,
template; no network), each page gets 3 warm-up requests and 50 timed ones: the overview, the queue
fragment (HTMX), the runs list unfiltered, filtered by job and status, and 90 % deep, the people search and
the items search for a common word (1 item in 31) and for a rare one (1 item; on PostgreSQL both search the
whole table through the trigram index). Target: p95 ≤ 100 ms for every page, ≤ 50 ms for the items
searches. --quick: a tenth of the data and 20 requests a page.
"""

import random
import time
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from channels_app.models import Channel, Delivery, Event, Recipient, Subscription
from config.settle import settle
from scheduler.models import Job, Run
from scheduler.shared import roles
from scrapers.models import Item, ItemRevision, MonitoredPerson, Publication, PublicationMatch, Source
from scrapers.people.brazil import normalize_name
from tests.bench import register
from tests.bench.figures import percentile

TARGET_MS = 100
SEARCH_TARGET_MS = 50  # items_search*: the whole table through the trigram index
JOBS, SOURCES, DAYS = 100, 50, 30
FULL = {"runs": 1_000_000, "items": 1_000_000, "people": 10_000, "deliveries": 100_000, "requests": 50}
QUICK = {"runs": 100_000, "items": 100_000, "people": 1_000, "deliveries": 10_000, "requests": 20}

# Item titles: verb + thing + place, so a search for one thing hits ~1/31 of the items and misses the rest.
VERBS = "Encontre Fotografe Desenhe Construa Cante Traga Esconda Pinte Escreva Monte Grave Leve Invente Decore "
VERBS += "Recite Costure Dance"
THINGS = "lanterna bicicleta guarda-chuva abacaxi violino chapéu espelho relógio bússola âncora tartaruga "
THINGS += "escada girassol pipa tambor coroa foguete baleia cadeira castelo dragão farol gaita ioiô janela "
THINGS += "lâmpada mapa navio órgão pião quadro"
PLACES = "na praça,no museu,na escola,no parque,na biblioteca,na praia,no metrô,na feira,no teatro,na igreja,"
PLACES += "no estádio,na padaria,no mercado"
ITEM_SEARCH = "lanterna"
FIRST = "Ana Antônio Beatriz Bruno Camila Carlos Daniela Diego Eduarda Felipe Fernanda Gabriel Helena Igor "
FIRST += "Isabela João Júlia Lucas Larissa Marcos Mariana Mateus Natália Otávio Patrícia Paulo Rafaela Ricardo "
FIRST += "Sofia Thiago Valéria Vinícius Yasmin Márcia Luís Renata Sérgio Tânia Wagner Cláudia"
SURNAMES = "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro Martins "
SURNAMES += "Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa Rocha Dias Nascimento Andrade Moreira Nunes "
SURNAMES += "Marques Machado Mendes Freitas Cardoso Ramos Gonçalves Santana Teixeira Araújo Conceição Melo "
SURNAMES += "Cavalcanti Brandão"
PEOPLE_SEARCH = "silva"


@register("dashboard")
def run(env, quick, say, log_dir):
    if connection.vendor != "postgresql":
        raise CommandError("bench dashboard seeds with PostgreSQL's generate_series: set DATABASE_URL to PostgreSQL")
    size = QUICK if quick else FULL
    say(
        f"seeding {size['runs']:,} runs, {size['items']:,} items, {size['people']:,} people, "
        f"{size['deliveries']:,} deliveries"
    )
    began = time.perf_counter()
    seed(size, say)
    seed_s = round(time.perf_counter() - began, 1)
    counts = {
        "runs": Run.objects.count(),
        "items": Item.objects.count(),
        "people": MonitoredPerson.objects.count(),
        "deliveries": Delivery.objects.count(),
        "jobs": Job.objects.count(),
    }
    say(f"seeded in {seed_s} s: {counts}")
    say(f"{size['requests']} timed requests per page after 3 warm-ups (p50 / p95, ms)")
    figures, failed = {}, []
    # Plain static storage: the pages are measured in this process, without a collectstatic manifest.
    plain_static = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"], STORAGES=plain_static):
        client = Client()
        bench_user = get_user_model().objects.create_user("bench", is_staff=True)
        roles.set_role(bench_user, roles.ADMIN)  # every button on the pages, as before roles
        client.force_login(bench_user)
        settle()  # as config.wsgi does before a web process serves
        for name, url, headers, expected in pages():
            try:
                p50, p95, size_bytes = measure(client, url, headers, expected, size["requests"])
            except Exception as error:  # noqa: BLE001 - measure the other pages, then fail
                failed.append(f"{name}: {error!r}")
                say(f"  {name:<16} FAILED  {url}: {error!r}")
                continue
            say(f"  {name:<16} {p50:7.1f} {p95:7.1f}   {url}  ({size_bytes:,} bytes)")
            figures[f"{name}_p50_ms"], figures[f"{name}_p95_ms"] = p50, p95
    if failed:
        raise CommandError("pages failed: " + "; ".join(failed))
    figures["max_p95_ms"] = max(value for key, value in figures.items() if key.endswith("_p95_ms"))
    targets = {
        key: SEARCH_TARGET_MS if key.startswith("items_search") else TARGET_MS
        for key in figures
        if key.endswith("_p95_ms")
    }
    return {
        **figures,
        "seed_s": seed_s,
        **{f"{name}_count": count for name, count in counts.items()},
        "requests_per_page": size["requests"],
        "quick": quick,
        "targets": targets,
    }


def pages():
    """(name, url, headers, text the page must show) of each measured page. Cursors and filters come from
    the seeded data; the text is the link to the row the page must list first, so a page that lists
    nothing, or ignores its filter or cursor, fails the benchmark rather than measuring the wrong work."""
    from scheduler.views_runs import Cursor  # the runs list's own `?after=` format

    def link(name, row):
        return reverse(name, args=[row.pk])

    newest = Run.objects.order_by("-scheduled_for", "-id")
    job = Job.objects.filter(name__startswith="bench ").order_by("pk").first()
    failed = newest.filter(job=job, status=Run.Status.FAILED).first()
    # The row 90 % down the newest-first list (older than 90 % of the runs), and the one right after it.
    deep = Run.objects.order_by("scheduled_for", "id").only("id", "scheduled_for")[Run.objects.count() // 10]
    after_deep = newest.filter(scheduled_for__lt=deep.scheduled_for).first()
    person = (
        MonitoredPerson.objects.filter(normalized_name__contains=PEOPLE_SEARCH).order_by("normalized_name", "pk")
    ).first()
    item = Item.objects.filter(title__icontains=ITEM_SEARCH).order_by("-pk").first()
    # One item among all, older than any window of recent ids: only a search of the whole table finds it.
    rare = Item.objects.order_by("pk").only("id", "title")[Item.objects.count() // 7]
    rare_search = rare.title.split(":")[0] + ":"  # "Tarefa 142857:"
    return [
        ("overview", "/", {}, ""),
        ("queue", "/queue/", {"HX-Request": "true"}, ""),
        ("runs", "/runs/", {}, link("scheduler:run", newest.first())),
        (
            "runs_filtered",
            f"/runs/?{urlencode({'job': job.pk, 'status': 'failed'})}",
            {},
            link("scheduler:run", failed),
        ),
        ("runs_deep", f"/runs/?{urlencode({'after': Cursor.of(deep)})}", {}, link("scheduler:run", after_deep)),
        ("people_search", f"/people/?{urlencode({'q': PEOPLE_SEARCH})}", {}, link("scrapers:person", person)),
        ("items_search", f"/items/?{urlencode({'q': ITEM_SEARCH})}", {}, link("scrapers:item", item)),
        ("items_search_rare", f"/items/?{urlencode({'q': rare_search})}", {}, link("scrapers:item", rare)),
    ]


def measure(client, url, headers, expected, count):
    """p50 and p95 (ms) of `count` GETs after 3 warm-ups; any answer but 200, or one without `expected`,
    fails the benchmark."""
    timings = []
    for index in range(3 + count):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise CommandError(f"GET {url} answered {response.status_code}, not 200")
        if index >= 3:
            timings.append(elapsed)
    if expected not in response.text:
        raise CommandError(f"GET {url} does not show {expected!r}: not the rows expected")
    return round(percentile(timings, 0.5), 1), round(percentile(timings, 0.95), 1), len(response.content)


def seed(size, say):
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")  # a throwaway database: no need to wait for the disk
        cursor.execute("SET maintenance_work_mem = '256MB'")  # index builds sort in memory
    seed_jobs_and_sources(now)
    step(say, "runs", seed_runs, size["runs"], now, tables=[Run])
    step(say, "items", seed_items, size["items"], now, tables=[Item, ItemRevision])
    step(say, "people", seed_people, size["people"], now, tables=[Publication, PublicationMatch])
    step(say, "deliveries", seed_deliveries, size["deliveries"], now, tables=[Event, Delivery])
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # statistics and the visibility map, as autovacuum would leave them
    say(f"  vacuum analyze {time.perf_counter() - began:.1f} s")


def step(say, name, function, *args, tables):
    began = time.perf_counter()
    with without_indexes(tables):
        function(*args)
    say(f"  {name} {time.perf_counter() - began:.1f} s")


@contextmanager
def without_indexes(models):
    """Drop the tables' secondary indexes and unique constraints for a bulk load and build them again
    afterwards: one sort per index is several times faster than maintaining each row by row."""
    names = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = ANY(%s::regclass[]) AND contype = 'u'",
            [names],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i"
            " WHERE indrelid = ANY(%s::regclass[]) AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))",
            [names],
        )
        indexes = cursor.fetchall()
        for relation, name, _definition in constraints:
            cursor.execute(f"ALTER TABLE {relation} DROP CONSTRAINT {name}")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        for _name, definition in indexes:
            cursor.execute(definition)
        for relation, name, definition in constraints:
            cursor.execute(f"ALTER TABLE {relation} ADD CONSTRAINT {name} {definition}")


def table(model):
    return connection.ops.quote_name(model._meta.db_table)


def seed_jobs_and_sources(now):
    """100 jobs (50 of them the sources' check_source jobs), most enabled with a next run; 50 sources."""
    rng = random.Random(6)
    jobs = []
    for index in range(JOBS):
        enabled = index % 5 != 4
        common = {
            "enabled": enabled,
            "next_run_at": now + timedelta(seconds=rng.randint(5, 3600)) if enabled else None,
            "last_scheduled_for": now - timedelta(seconds=rng.randint(5, 3600)),
            "created_at": now - timedelta(days=DAYS + 5),
        }
        if index < SOURCES:
            job = Job(name=f"bench source {index:02d}", kind="check_source", schedule_type="interval", **common)
            job.interval_seconds = rng.choice([60, 300, 900, 3600])
        elif index < 80:
            job = Job(name=f"bench http {index:02d}", kind="http_request", cron=f"{index % 60} * * * *", **common)
            job.params = {"url": f"https://service.example/ping/{index}", "method": "GET"}
        else:
            job = Job(name=f"bench noop {index:02d}", kind="noop", schedule_type="interval", **common)
            job.interval_seconds = 600
        jobs.append(job)
    jobs = Job.objects.bulk_create(jobs)
    sources = [
        Source(
            name=f"Bench organizer {index:02d}",
            kind="html",
            url=f"https://organizer{index:02d}.example/tarefas",
            config={"items": "li.task", "title": "h3", "link": "a@href"},
            interval_seconds=jobs[index].interval_seconds,
            job=jobs[index],
            enabled=jobs[index].enabled,
            last_checked_at=now - timedelta(minutes=index),
            last_success_at=now - timedelta(minutes=index if index % 17 else 600),
            broken=index % 17 == 0,
            consecutive_failures=8 if index % 17 == 0 else 0,
            last_error="HTTP 503 from the organizer" if index % 17 == 0 else "",
            last_item_count=40,
            created_at=now - timedelta(days=DAYS + 5),
        )
        for index in range(SOURCES)
    ]
    Source.objects.bulk_create(sources)


def seed_runs(count, now):
    """Runs round-robin over the bench jobs, oldest first (so ids follow time), 30 days up to now: mostly
    succeeded, some failed / timed out / skipped / cancelled, and the newest few retrying, running, queued."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table(Run)} (job_id, scheduled_for, attempt, trigger, status, due_at, queued_at,
                started_at, finished_at, heartbeat_at, duration_ms, pickups, losses, worker, cancel_requested,
                result, error, traceback)
            SELECT jobs.ids[1 + mod(g, cardinality(jobs.ids))], at, 1,
                CASE WHEN mod(g, 40) = 0 THEN 'manual' ELSE 'schedule' END,
                status, at,
                CASE WHEN status = 'skipped' THEN NULL ELSE at + interval '15 milliseconds' END,
                CASE WHEN status IN ('skipped', 'queued') THEN NULL ELSE at + interval '40 milliseconds' END,
                CASE WHEN status IN ('skipped', 'queued', 'running') THEN NULL
                     ELSE at + interval '40 milliseconds' + make_interval(secs => duration / 1000.0) END,
                CASE WHEN status IN ('skipped', 'queued') THEN NULL ELSE at + interval '1 second' END,
                CASE WHEN status IN ('skipped', 'queued', 'running') THEN NULL ELSE duration END,
                CASE WHEN status IN ('skipped', 'queued') THEN 0 ELSE 1 END,
                0,
                CASE WHEN status IN ('skipped', 'queued') THEN '' ELSE 'worker-' || mod(g, 4) END,
                false,
                CASE WHEN status = 'succeeded' THEN jsonb_build_object('items', mod(g, 40), 'new', mod(g, 3))
                     ELSE NULL END,
                CASE status WHEN 'failed' THEN 'HTTPError: 503 Service Unavailable for url https://organizer.example/'
                            WHEN 'timed_out' THEN 'Timed out after 300 s' ELSE '' END,
                CASE WHEN status = 'failed'
                     THEN repeat('  File "/app/scrapers/sources/fetch.py", line 88, in get' || chr(10)
                     || '    response.raise_for_status()' || chr(10), 8) ELSE '' END
            FROM (
                SELECT g, at, 50 + mod(g * 31, 5000) AS duration,
                    CASE WHEN g > %(n)s - 5 THEN 'queued'
                         WHEN g > %(n)s - 20 THEN 'running'
                         WHEN g > %(n)s - 25 THEN 'retrying'
                         WHEN mod(g * 7919, 1000) < 60 THEN 'failed'
                         WHEN mod(g * 7919, 1000) < 75 THEN 'timed_out'
                         WHEN mod(g * 7919, 1000) < 105 THEN 'skipped'
                         WHEN mod(g * 7919, 1000) < 110 THEN 'cancelled'
                         ELSE 'succeeded' END AS status
                FROM (
                    SELECT g, %(now)s::timestamptz - %(span)s::interval * ((%(n)s - g)::float8 / %(n)s) AS at
                    FROM generate_series(1::bigint, %(n)s) AS g
                ) timed
            ) seeded,
            (SELECT array_agg(id ORDER BY id) AS ids FROM {table(Job)} WHERE name LIKE 'bench %%') jobs
            """,
            {"n": count, "now": now, "span": timedelta(days=DAYS)},
        )


def seed_items(count, now):
    """Items over the sources, oldest first, with varied titles; every 20th has one earlier revision."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table(Item)} (source_id, key, title, url, body, published_at, raw, content_hash,
                first_seen, last_seen, revisions_count, attachments)
            SELECT sources.ids[1 + mod(g, cardinality(sources.ids))], 'tarefa-' || g,
                'Tarefa ' || g || ': ' || (%(verbs)s::text[])[1 + mod(g, 17)]
                    || ' ' || (%(things)s::text[])[1 + mod(g / 17, 31)]
                    || ' ' || (%(places)s::text[])[1 + mod(g / 527, 13)],
                'https://organizer.example/tarefas/' || g,
                'Descrição da tarefa ' || g || ' com regras e pontuação. '
                    || repeat('Leia com atenção. ', 1 + mod(g, 8)::int),
                at - interval '1 hour', jsonb_build_object('id', g), md5(g::text), at,
                LEAST(at + interval '3 days', %(now)s::timestamptz),
                CASE WHEN mod(g, 20) = 0 THEN 1 ELSE 0 END, '[]'::jsonb
            FROM (
                SELECT g, %(now)s::timestamptz - %(span)s::interval * ((%(n)s - g)::float8 / %(n)s) AS at
                FROM generate_series(1::bigint, %(n)s) AS g
            ) timed,
            (SELECT array_agg(id ORDER BY id) AS ids FROM {table(Source)}) sources
            """,
            {
                "n": count,
                "now": now,
                "span": timedelta(days=DAYS),
                "verbs": VERBS.split(),
                "things": THINGS.split(),
                "places": PLACES.split(","),
            },
        )
        cursor.execute(
            f"""
            INSERT INTO {table(ItemRevision)} (item_id, title, url, body, published_at, raw, attachments,
                content_hash, valid_from, replaced_at)
            SELECT id, title || ' (antes)', url, body, published_at, raw, attachments, md5(content_hash),
                first_seen, first_seen + interval '1 hour'
            FROM {table(Item)} WHERE revisions_count = 1
            """
        )


def seed_people(count, now):
    """People with distinct Brazilian names (first name and two of 40 surnames: ~5 % are Silvas), most
    active and checked; two publications matched to each."""
    rng = random.Random(6)
    first, surnames = FIRST.split(), SURNAMES.split()
    combos = rng.sample(range(len(first) * len(surnames) ** 2), count)
    rows = []
    for index, combo in enumerate(combos):
        a, b, c = combo // len(surnames) ** 2, combo // len(surnames) % len(surnames), combo % len(surnames)
        particle = ("", "da ", "de ", "dos ")[combo % 4] if surnames[b] != surnames[c] else ""
        name = f"{first[a]} {surnames[b]} {particle}{surnames[c]}" if b != c else f"{first[a]} {surnames[b]}"
        active = index % 20 != 0
        rows.append(
            MonitoredPerson(
                name=name,
                normalized_name=normalize_name(name),
                tribunals="TJSP,TRT2" if index % 3 == 0 else "",
                active=active,
                last_checked_at=now - timedelta(minutes=index % 180),
                last_success_at=now - timedelta(minutes=index % 180),
                next_check_at=now + timedelta(minutes=index % 360) if active else None,
                first_check=MonitoredPerson.FirstCheck.DONE,
                created_at=now - timedelta(days=DAYS, minutes=-index),
            )
        )
    MonitoredPerson.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table(Publication)} (djen_id, hash, date, tribunal, communication_type, organ,
                process_number, process_number_masked, class_name, class_code, document_type, medium, number,
                text, link, recipients, lawyers, first_seen)
            SELECT 400000000 + g, md5(g::text), (%(now)s::timestamptz - make_interval(days => mod(g, 30)::int))::date,
                'TJSP', 'Intimação', 'Vara Cível', lpad(g::text, 20, '0'), lpad(g::text, 20, '0'),
                'Procedimento Comum Cível', '7', 'Despacho', 'D', '',
                'Fica intimada a parte para se manifestar no prazo legal. ' || repeat('Texto. ', 20),
                'https://comunica.pje.jus.br/' || g, '[]'::jsonb, '[]'::jsonb, %(now)s
            FROM generate_series(1::bigint, %(n)s) AS g
            """,
            {"n": count * 2, "now": now},
        )
        cursor.execute(
            f"""
            INSERT INTO {table(PublicationMatch)} (person_id, publication_id, how, matched_at)
            SELECT people.ids[1 + mod(p.id, cardinality(people.ids))], p.id, 'name', p.first_seen
            FROM {table(Publication)} p, (SELECT array_agg(id ORDER BY id) AS ids FROM {table(MonitoredPerson)}) people
            """
        )


def seed_deliveries(count, now):
    """4 channels with 3 recipients each; one event (a new item) per delivery: mostly sent, some failed,
    dead or cancelled, the newest pending, retrying or sending."""
    channels = Channel.objects.bulk_create(
        Channel(name=f"bench {kind}", kind=kind, config={"note": "bench"})
        for kind in ("wuzapi", "email", "webhook", "outbox")
    )
    recipients = Recipient.objects.bulk_create(
        Recipient(channel=channel, address=f"bench-{channel.kind}-{index}", label=f"Recipient {index}")
        for channel in channels
        for index in range(3)
    )
    Subscription.objects.bulk_create(Subscription(recipient=recipient, topic="source:*") for recipient in recipients)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH events AS (
                INSERT INTO {table(Event)} (topic, type, key, payload, created_at)
                SELECT 'source:' || sources.ids[1 + mod(g, cardinality(sources.ids))], 'item.new', 'bench-' || g,
                    jsonb_build_object('type', 'item.new', 'title', 'Tarefa ' || g), at
                FROM (
                    SELECT g, %(now)s::timestamptz - %(span)s::interval * ((%(n)s - g)::float8 / %(n)s) AS at
                    FROM generate_series(1::bigint, %(n)s) AS g
                ) timed,
                (SELECT array_agg(id ORDER BY id) AS ids FROM {table(Source)}) sources
                RETURNING id, created_at
            )
            INSERT INTO {table(Delivery)} (event_id, recipient_id, status, subject, body, attempts, next_attempt_at,
                claimed_at, worker, provider_id, error, template_error, sent_at, created_at, updated_at, attachments,
                parts)
            SELECT id, recipients.ids[1 + mod(id, cardinality(recipients.ids))], status, 'Nova tarefa',
                'Nova tarefa publicada: Tarefa ' || id,
                CASE status WHEN 'dead' THEN 5 WHEN 'pending' THEN 0 ELSE 1 END,
                CASE WHEN status IN ('pending', 'retrying') THEN %(now)s::timestamptz + interval '30 seconds' END,
                CASE WHEN status = 'sending' THEN %(now)s::timestamptz END,
                CASE WHEN status = 'pending' THEN '' ELSE 'worker-1' END,
                CASE WHEN status = 'sent' THEN 'msg-' || id ELSE '' END,
                CASE WHEN status IN ('failed', 'dead', 'retrying') THEN 'HTTP 500 from the provider' ELSE '' END,
                '',
                CASE WHEN status = 'sent' THEN created_at + interval '2 seconds' END,
                created_at, created_at + interval '2 seconds', '[]'::jsonb, '{{}}'::jsonb
            FROM (
                SELECT id, created_at,
                    CASE WHEN id > max(id) OVER () - 10 THEN 'pending'
                         WHEN id > max(id) OVER () - 20 THEN 'retrying'
                         WHEN id > max(id) OVER () - 25 THEN 'sending'
                         WHEN mod(id * 7919, 1000) < 30 THEN 'failed'
                         WHEN mod(id * 7919, 1000) < 50 THEN 'dead'
                         WHEN mod(id * 7919, 1000) < 60 THEN 'cancelled'
                         ELSE 'sent' END AS status
                FROM events
            ) seeded,
            (SELECT array_agg(id ORDER BY id) AS ids FROM {table(Recipient)}
                WHERE channel_id = ANY(%(channels)s)) recipients
            """,
            {"n": count, "now": now, "span": timedelta(days=DAYS), "channels": [channel.pk for channel in channels]},
        )
