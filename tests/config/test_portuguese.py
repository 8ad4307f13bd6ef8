"""pt-BR everywhere (issue 15): an operator who reads Portuguese sees no English on any dashboard page, partial,
form error, flash message or admin page.

One object of every kind is made (a source of each scraper kind with items, a channel of each channel kind with
a recipient and a subscription, a job of each job kind with runs in every status, a person with a publication,
deliveries, transfers, tokens, messages, callbacks...); then every URL pattern of the dashboard is rendered (its
list, detail, new/edit pages and GET-able partials, also as htmx asks for them), every dashboard form is posted
empty and with bad values, every action button is pressed (its flash message read on the page it leads to), and
the admin's index, changelists, add and change pages of every registered model are rendered, under
Accept-Language: pt-BR.

"English" is a word list: the words of the catalog's msgids that no msgstr uses (what we translate away), plus a
few common English words. The visible text is read: tags, scripts and styles stripped, attribute values too
except those a person reads (title, placeholder, aria-label, alt, a button's value, a confirm question); code,
preformatted text and text areas hold what operators typed or technical identifiers and are not read."""

import functools
import re
from collections import defaultdict
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import available_timezones

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone, translation

from channels_app import alerts, rendering, tokens
from channels_app import jobs as channel_jobs
from channels_app.kinds.base import channel_kinds
from channels_app.models import (
    Callback,
    Channel,
    Delivery,
    Event,
    Message,
    MessageTemplate,
    Recipient,
    Subscription,
    Watch,
)
from scheduler import dispatch, endings, job_kinds, lease, liveness, periodic, schedules, services
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scheduler.shared import recorded, roles
from scrapers.models import (
    HostBudget,
    Item,
    ItemRevision,
    MonitoredPerson,
    PeopleTransfer,
    Publication,
    PublicationMatch,
    Source,
)
from scrapers.people import services as people_services
from scrapers.sources import checks
from scrapers.sources.kinds.base import scraper_kinds
from scrapers.sources.services import sync_job
from tests.support.factories import lead, make_job

pytestmark = pytest.mark.django_db

CATALOG = Path(settings.BASE_DIR) / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"

# Proper names and technical words that read the same in Portuguese. Matched whatever the case, except the
# acronyms, which must be written in capitals ("Url" is English: Django's label of a field named `url`).
ALLOWED = set(
    """vigia wuzapi djen whatsapp cron apprise webhook webhooks graphql atom pje htmx mail ok ids id django telegram
    slack discord ntfy excel gincana smartmei jid jids hmac sha fernet jwt jwks bearer utf unicode regex oab cpf cnpj
    tjsp trt jus pdf log""".split()
)
ACRONYMS = set("http https url urls json csv api utc smtp css html rss iana get post".split())
# Common English words that are not Portuguese, whether or not the catalog has them today.
ENGLISH = set(
    """the and of to is are was not yet run runs job jobs failed queued succeeded skipped running cancelled
    select option name kind address topic never last next every all none save delete new edit send test
    with for from this that these those there their when where which what who how why will would should
    can could may might must have has had been being does did done yes on off in out by or an it
    its be at if then than also only just more most less least each any some many much other another
    such same here now today yesterday tomorrow ago before after since until while into onto over under
    between through during without within about above below up down again once twice always sometimes
    seconds minutes hours days weeks months years second minute hour day week month year
    add added change changed remove removed create created update updated view show hide open close
    enabled disabled active inactive paused resume pause retry retries attempt attempts error errors
    warning success successful interval timezone time zone schedule scheduled queue queues
    items source sources channel channels recipient recipients subscription subscriptions event
    events delivery deliveries publication publications person people template templates
    message messages preview check checks checked broken failing healthy unknown empty please enter
    invalid required field fields value values number numbers text title body date dates type types
    filter filters search results result page pages previous first back home overview settings""".split()
)


def _words(text):
    return re.findall(r"(?<!\w)[^\W\d_]{2,}(?!\w)", text)  # "4be79" (an id) has none


def _catalog_text(block, keyword):
    """The joined string of `keyword` ("msgid", "msgstr", "msgstr[0]"...) in a .po entry."""
    found = re.search(rf'^{re.escape(keyword)} ((?:".*"\n?)+)', block, re.M)
    return "".join(re.findall(r'"(.*)"', found.group(1))) if found else ""


# What is not prose, taken out of a text before its words are read: placeholders and markup of the catalog, a
# one-word name in quotes (“%(queue)s”: a value), JSON keys and literals, a command to type, Django's name for a
# row without __str__ (django-q2's), an HTTP header's name (Last-Modified), "key: value" examples, lists of
# identifiers, and anything joined by . _ : / @ , # = (item.new, a@href, run:12, x=1, America/Sao_Paulo).
NOT_PROSE = [
    re.compile(pattern)
    for pattern in (
        r"%\(\w+\)[sdfr]|%[sd]|\{\{.*?\}\}|\{%.*?%\}|\{\w*\}|<[^>]+>|&\w+;|\\n",
        r"“[^”\s]*”",
        r"""["']\w+["']:|\b(?:true|false|null|True|False|None)(?=[,}\]])""",
        r"\b(?:python manage\.py|make) [a-z_]+",
        r"\b\w+ object \(\d+\)",
        r"\b[A-Z][a-z]+(?:-[A-Z][a-z]+)+\b",
        r"\((?:[a-z_]+: [a-z_]+(?:, )?)+\)",
        r"\((?:[\w.]+, )+[\w.]*\.[\w.]*(?:, [\w.]+)*\)",
        r"""\S*\w[._:/@,#=]['"]?\w\S*""",
    )
]


def _without_markup(text):
    for pattern in NOT_PROSE:
        text = pattern.sub(" ", text)
    return text


def english_words():
    """Words the catalog translates away (in some msgid, in no msgstr), plus ENGLISH, less ALLOWED."""
    text = CATALOG.read_text(encoding="utf-8")
    source, target = set(), set()
    for block in text.split("\n\n"):
        if block.lstrip().startswith("#~") or "msgid" not in block:
            continue
        msgid = _catalog_text(block, "msgid") + " " + _catalog_text(block, "msgid_plural")
        msgstr = " ".join(_catalog_text(block, key) for key in ("msgstr", "msgstr[0]", "msgstr[1]"))
        target.update(word.lower() for word in _words(_without_markup(msgstr)))
        if msgstr.strip() and msgstr.strip() != msgid.strip():
            source.update(word.lower() for word in _words(_without_markup(msgid)))
    return frozenset(((source - target) | ENGLISH) - ALLOWED - ACRONYMS)


class VisibleText(HTMLParser):
    """The text a person reads on a page: text nodes and the attributes that are read or shown. Code, preformatted
    text, text areas and `mono` elements (identifiers: a setting's key, a kind's name) are technical, not read."""

    SKIPPED = {"script", "style", "textarea", "code", "pre", "kbd", "samp"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
    READ = {"title", "placeholder", "aria-label", "alt", "data-confirm", "hx-confirm"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.open = [], []  # open: (tag, hidden) of the elements we are in

    @property
    def hidden(self):
        return any(hidden for _tag, hidden in self.open)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        hidden = tag in self.SKIPPED or "mono" in (values.get("class") or "").split()
        if tag not in self.VOID:
            self.open.append((tag, hidden))
        if hidden or self.hidden:
            return
        if tag == "img" and "/admin/img/icon-" in (values.get("src") or ""):
            return  # the admin's yes/no icons: Django writes their alt text (True, False, None) untranslated
        for name, value in attrs:
            if name in self.READ and value:
                if tag == "label" and name == "title" and re.fullmatch(r"[a-z][a-z0-9_]*", value):
                    continue  # the JSON key of a kind's setting, on its label: an identifier
                self.parts.append(value)
        if tag == "input" and values.get("type") in ("submit", "button", "reset") and values.get("value"):
            self.parts.append(values["value"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID and self.open and self.open[-1][0] == tag:
            self.open.pop()

    def handle_endtag(self, tag):
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                break
        self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


# Strings in files other work is changing at the moment, to be translated there (each entry names where). A line
# a pattern matches whole is not read; remove the entry once its string reads in Portuguese.
PENDING: list[str] = []  # strings known to be English still, each with the file to fix (none today)
ZONES = available_timezones()
# Identifiers that are whole cells of a table (django-q2's and the lease's admin pages): values, not words.
VALUES = {*settings.VIGIA_QUEUES, *rendering.EVENT_TYPES, lease.SCHEDULER, "None"}
# The roles' group names as stored (auth data the Django admin shows as is; pages show their translated labels):
# skipped only as written, in lower case, so "Viewer" as a label would still be caught.
STORED_NAMES = set(roles.ROLES)


def visible_text(html):
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return " ".join(parser.parts)


SENTENCES = re.compile(r"\n|(?<=[.!?:;])\s")
PENDING_LINE = re.compile("|".join(f"(?:{pattern})" for pattern in PENDING) or "(?!)")


def english_in(text, english):
    """{word: phrase} for every English word of `text` (a visible text)."""
    found = {}
    for line in SENTENCES.split(_without_markup(text)):
        for word in _english_of(line.strip(), english):
            found.setdefault(word, " ".join(line.split())[:120])
    return found


@functools.lru_cache(maxsize=100_000)  # pages repeat their menus, selects and footers
def _english_of(line, english):
    if not line or line.rstrip(":") in VALUES or re.fullmatch(r"run-\d+", line):
        return ()  # a cell holding an identifier: a queue's or a lease's name, a queued task's name, None
    if PENDING_LINE.fullmatch(line.rstrip(":")):
        return ()
    words = []
    for chunk in line.split():
        if chunk.strip(".,;:()[]«»\"'") in ZONES or "://" in chunk or "@" in chunk:
            continue
        for word in _words(chunk):
            if word in STORED_NAMES:
                continue
            lower = word.lower()
            if word.isupper() or (word[:-1].isupper() and word.endswith("s")):
                continue  # an acronym (TRE-GO, CPF, OK, URLs)
            if (lower in ACRONYMS and word == word.capitalize()) or (lower in english and lower not in ALLOWED):
                words.append(word)  # English, or an acronym as Django labels a field ("Url", "Json")
    return tuple(words)


# Portuguese names for the objects of each kind (an operator's words: nothing here may read as English).
NAMES = {
    **{"html": "lista", "json": "dados", "feed": "notícias", "page_watch": "página"},  # scraper kinds
    **{"wuzapi": "zap", "email": "correio", "webhook": "gancho", "apprise": "avisos", "outbox": "caixa"},
    **{"noop": "vazia", "http_request": "chamada", "prune_runs": "limpeza"},  # job kinds
}


# A run's error in each status that has one, as the engine records it.
ERRORS = {
    "failed": "HTTP 503",
    "timed_out": endings.TIMED_OUT % {"seconds": 300},
    "cancelled": endings.CANCELLED,
    "skipped": dispatch.OVERLAP,
}


# --- the world -----------------------------------------------------------------------------------------


def _run(job, status, minutes_ago, **fields):
    when = timezone.now() - timedelta(minutes=minutes_ago)
    return Run.objects.create(job=job, scheduled_for=when, due_at=when, status=status, **fields)


def build_world(client):
    """One object of every kind, with Portuguese content (what an operator or a page would have typed)."""
    now = timezone.now()
    world = {}
    lead("lider-1:42")
    liveness.beat("c" * 32, "servidor-1:7", "high,default,low")
    periodic.run(periodic.chores()[0])  # a housekeeping row

    sources = {
        "html": {"items": "li.tarefa", "title": "a", "link": "a@href"},
        "json": {"items_path": "dados.tarefas", "fields": {"title": "nome", "link": "endereco"}},
        "feed": {"limit": 10},
        "page_watch": {"selector": "main", "ignore": ".relogio"},
    }
    for kind, config in sources.items():
        source = Source.objects.create(
            name=f"Fonte {NAMES[kind]}",
            kind=kind,
            url=f"http://127.0.0.1:9/{kind}",
            config=config,
            interval_seconds=300,
        )
        sync_job(source)
        world[f"source_{kind}"] = source
    source = world["source_html"]
    # errors as the engine records them (in English), shown in the reader's language
    broken = checks.EMPTY_PAGE % {"count": 2}
    Source.objects.filter(pk=world["source_json"].pk).update(consecutive_failures=5, broken=True, last_error=broken)
    item = Item.objects.create(
        source=source,
        key="k1",
        title="Tarefa nova",
        url="http://127.0.0.1:9/t/1",
        body="Entregar o relatório",
        content_hash="h1",
        revisions_count=1,
    )
    ItemRevision.objects.create(
        item=item,
        title="Tarefa antiga",
        body="Entregar o rascunho",
        content_hash="h0",
        valid_from=now - timedelta(days=1),
    )
    world["item"] = item

    # channels of every kind, a recipient and a subscription on each
    channels = {
        "wuzapi": ({"base_url": "http://127.0.0.1:9"}, {"token": "segredo"}, "5511987654321"),
        "email": ({"from_email": "vigia@exemplo.com.br"}, {}, "equipe@exemplo.com.br"),
        "webhook": ({"url": "http://127.0.0.1:9/gancho"}, {"secret": "segredo"}, ""),
        "apprise": ({}, {"urls": "json://127.0.0.1:9/"}, ""),
        "outbox": ({}, {}, "caixa"),
    }
    for kind, (config, secrets, address) in channels.items():
        channel = Channel.objects.create(name=f"Canal {NAMES[kind]}", kind=kind, config=config, secrets=secrets)
        recipient = Recipient.objects.create(channel=channel, address=address, label="Equipe")
        Subscription.objects.create(recipient=recipient, topic=f"source:{source.pk}", event_types=["item.new"])
        world[f"channel_{kind}"], world[f"recipient_{kind}"] = channel, recipient
    world["subscription"] = Subscription.objects.filter(recipient=world["recipient_outbox"]).first()
    world["template"] = MessageTemplate.objects.create(name="item.new", subject="Novo: {{ title }}", body="{{ title }}")
    for status in Delivery.Status.values:
        event = Event.objects.create(
            topic=f"source:{source.pk}", type="item.new", payload={"title": "Tarefa nova"}, key=f"evento-{len(world)}"
        )
        world[f"delivery_{status}"] = Delivery.objects.create(
            event=event,
            recipient=world["recipient_outbox"],
            status=status,
            subject="Tarefa nova",
            body="Tarefa nova",
            attempts=2,
            error="HTTP 503" if status in ("failed", "dead", "retrying") else "",
        )
    world["delivery"] = world["delivery_dead"]

    # a person with a publication
    person = people_services.save_person(
        MonitoredPerson(
            name="Maria da Silva", document="", tribunals="TJSP", monitor_until=date.today() + timedelta(days=30)
        )
    )
    publication = Publication.objects.create(
        djen_id=1,
        date=date.today(),
        tribunal="TJSP",
        communication_type="Intimação",
        organ="1ª Vara Cível",
        process_number="00012345620268260100",
        process_number_masked="0001234-56.2026.8.26.0100",
        class_name="Procedimento Comum",
        text="Fica a parte intimada para se manifestar.",
        recipients=[{"nome": "Maria da Silva"}],
    )
    PublicationMatch.objects.create(person=person, publication=publication, how=PublicationMatch.How.NAME)
    world["person"], world["publication"] = person, publication
    people_services.ensure_cycle_jobs()
    retention_jobs = services.ensure_jobs(channel_jobs.SYSTEM_JOBS)
    assert retention_jobs

    # jobs of every kind, with runs in every status
    kinds = {
        "noop": {},
        "http_request": {"url": "http://127.0.0.1:9/", "method": "GET"},
        "prune_runs": {"days": 30},
    }
    for kind, params in kinds.items():
        world[f"job_{kind}"] = make_job(name=f"Rotina {NAMES[kind]}", kind=kind, params=params)
    job = make_job(
        name="Relatório diário", kind="noop", schedule_type="cron", cron="0 9 * * 1-5", timezone="America/Sao_Paulo"
    )
    world["job"] = job
    for minutes, status in enumerate(Run.Status.values):
        world[f"run_{status}"] = _run(
            job,
            status,
            10 + minutes,
            attempt=1,
            trigger=Run.Trigger.values[minutes % len(Run.Trigger.values)],
            error=ERRORS.get(status, ""),
            result={"itens": 2} if status == "succeeded" else None,
        )
    _run(job, "skipped", 60, error=dispatch.MISSED_BEYOND_GRACE)
    _run(world["source_json"].job, "failed", 5, error=broken)
    with translation.override("en"):  # as a worker records it
        zone_error = str(pytest.raises(schedules.ScheduleError, schedules.get_zone, "Marte/Base").value)
    world["job_paused"] = Job.objects.create(
        name="Rotina pausada",
        kind="noop",
        schedule_type="cron",
        cron="0 9 * * *",
        timezone="America/Sao_Paulo",
        enabled=False,
        paused_reason=endings.UNPLANNABLE % {"schedule": "0 9 * * * (Marte/Base)", "detail": zone_error},
    )
    MonitoredPerson.objects.filter(pk=person.pk).update(last_error=zone_error)
    world["job_once"] = make_job(name="Rotina única", schedule_type="once")
    world["job_manual"] = make_job(name="Rotina manual", schedule_type="manual")

    # transfers: an import (a bad row too) and an export, started on their pages and run as a worker would
    csv = SimpleUploadedFile("pessoas.csv", "nome;cpf\nJoão Souza;\n;123\n".encode(), content_type="text/csv")
    client.post(reverse("scrapers:people_import"), {"file": csv})
    client.post(reverse("scrapers:people_export"), {})
    for transfer in PeopleTransfer.objects.all():
        execute_run(transfer.job.runs.get().pk)
    world["transfer_import"] = PeopleTransfer.objects.get(kind="import")
    world["transfer_export"] = PeopleTransfer.objects.get(kind="export")

    # API: a token, a scheduled message, callbacks
    world["token"], _raw = tokens.create("Integração")
    world["message"] = message = Message.objects.create(
        service="agenda",
        key="m1",
        channel=world["channel_outbox"],
        to="caixa",
        body="Lembrete",
        send_at=now + timedelta(hours=1),
        token=world["token"],
    )
    make_job(name=f"API message #{message.pk}: agenda/m1", kind="send_message", params={"message_id": message.pk})
    for status in Callback.Status.values:
        Callback.objects.create(
            subject=f"run:{status}",
            url="http://127.0.0.1:9/retorno",
            body={"id": 1},
            status=status,
            error="HTTP 500" if status in ("failed", "dead", "retrying") else "",
        )
    HostBudget.objects.get_or_create(name="127.0.0.1", defaults={"per_second": 1})

    # one of every kind there is (the test suite's own kinds aside)
    real = [kind for kind in job_kinds.names() if not type(job_kinds.get(kind)).__module__.startswith("tests.")]
    assert set(real) <= set(Job.objects.values_list("kind", flat=True)), "a job of every job kind"
    assert set(scraper_kinds.names()) <= set(Source.objects.values_list("kind", flat=True))
    assert set(channel_kinds.names()) <= set(Channel.objects.values_list("kind", flat=True))
    world["user"] = get_user_model().objects.create_user("leitora", password="x")  # /users/<pk>/…
    # alerts in every state: a source failing, a job alerting (acknowledged, silenced) with a dead man's switch
    source_subject = f"source:{world['source_html'].pk}"
    alerts.failed(source_subject, "HTTP 503", name=world["source_html"].name)
    job_subject = f"job:{world['job'].pk}"
    world["watch"] = alerts.failed(job_subject, "boom", name=world["job"].name)
    alerts.acknowledge(world["watch"], "operadora")
    alerts.silence(world["watch"], timezone.now() + timedelta(hours=1), "operadora")
    Watch.objects.filter(subject=job_subject).update(expect_every=timedelta(hours=2), remind_every=timedelta(hours=1))
    return world


# --- walking the pages ---------------------------------------------------------------------------------

SKIPPED_URLS = {
    "healthz",
    "metrics",
    "login",
    "logout",
    "set_language",  # no page of the dashboard (or tested elsewhere)
    "scrapers:publications_export",
    "scrapers:people_transfer_download",  # CSV files
}
# Actions: POSTed (the answer, or the page it leads to, is read).
ACTIONS = {
    "scheduler:job_pause",
    "scheduler:job_resume",
    "scheduler:job_run",
    "scheduler:job_duplicate",
    "scheduler:job_delete",
    "scheduler:queue_cancel",
    "scrapers:source_check",
    "scrapers:person_check",
    "scrapers:person_deactivate",
    "scrapers:people_sync",
    "force_sync_people",
    "force_sync_sources",
    "channels_app:channel_test",
    "channels_app:channel_retry_dead",
    "channels_app:recipient_delete",
    "channels_app:subscription_delete",
    "channels_app:delivery_retry",
    "channels_app:token_revoke",
    "channels_app:token_new",
    "scheduler:cron_preview",
    "scrapers:source_preview",
    "channels_app:template_preview",
    "channels_app:alert_act",
    "channels_app:alert_policy",
}
# The object each <int:pk> of a URL names.
OBJECTS = {
    "scheduler:job": "job",
    "scheduler:job_pause": "job",
    "scheduler:job_resume": "job_paused",
    "scheduler:job_run": "job",
    "scheduler:job_duplicate": "job",
    "scheduler:job_delete": "job_noop",
    "scheduler:queue_cancel": "run_queued",
    "scheduler:run": "run_failed",
    "scrapers:source": "source_html",
    "scrapers:source_check": "source_html",
    "scrapers:source_status": "source_html",
    "scrapers:source_latest": "source_html",
    "scrapers:item": "item",
    "scrapers:people_sync_run": "run_succeeded",
    "scrapers:person": "person",
    "scrapers:person_status": "person",
    "scrapers:person_check": "person",
    "scrapers:person_deactivate": "person",
    "scrapers:publication": "publication",
    "scrapers:people_transfer": "transfer_import",
    "channels_app:channel": "channel_wuzapi",
    "channels_app:channel_test": "channel_outbox",
    "channels_app:channel_retry_dead": "channel_outbox",
    "channels_app:recipient_new": "channel_email",
    "channels_app:recipient": "recipient_wuzapi",
    "channels_app:recipient_delete": "recipient_apprise",
    "channels_app:subscription_new": "recipient_email",
    "channels_app:subscription_delete": "subscription",
    "channels_app:template": "template",
    "channels_app:delivery": "delivery",
    "channels_app:delivery_retry": "delivery",
    "user_role": "user",
    "user_deactivate": "user",
}
# Pages of each kind: URL name -> {its argument: the registry of kinds}.
KIND_PAGES = {"kind_fields": {"jobs": job_kinds.job_kinds, "sources": scraper_kinds, "channels": channel_kinds}}
# Forms: posted empty, then with a bad value in every field.
FORMS = {
    "scheduler:job_new",
    "scheduler:job",
    "scrapers:source_new",
    "scrapers:source",
    "scrapers:person_new",
    "scrapers:people_import",
    "scrapers:people_export",
    "channels_app:channel_new",
    "channels_app:channel",
    "channels_app:recipient_new",
    "channels_app:recipient",
    "channels_app:subscription_new",
    "channels_app:template_new",
    "channels_app:template",
    "channels_app:token_new",
    "scheduler:cron_preview",
    "scrapers:source_preview",
    "channels_app:template_preview",
    "channels_app:channel_test",
    "user_new",
    "user_role",
}
BAD = "!?"  # not a number, a URL, a choice, JSON, a cron expression, a zone, an address...


def dashboard_urls():
    """(name, route) of every URL pattern but the admin's and the API's."""
    found = []

    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                route = prefix + str(pattern.pattern)
                if not route.startswith(("admin/", "api/")):
                    walk(pattern.url_patterns, route, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                found.append((name, prefix + str(pattern.pattern)))

    walk(get_resolver().url_patterns, "", None)
    return found


def _form_fields(html):
    """The names of a page's form inputs (a bad value goes in each)."""
    return sorted(set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', html)) - {"csrfmiddlewaretoken"})


class Reader:
    def __init__(self, client, english):
        self.client, self.english = client, english
        self.found = defaultdict(set)  # word -> {"phrase (where)"}
        self.pages = 0

    def read(self, response, where):
        assert response.status_code < 500, f"{where}: {response.status_code}"
        if "html" not in response.get("Content-Type", ""):
            return ""
        html = response.content.decode()
        self.pages += 1
        for word, phrase in english_in(visible_text(html), self.english).items():
            self.found[word].add(f"{phrase!r} ({where})")
        return html

    def get(self, url, **headers):
        return self.read(self.client.get(url, **headers), f"GET {url}")

    def post(self, url, data, follow=True, **headers):
        response = self.client.post(url, data, follow=follow, **headers)
        return self.read(response, f"POST {url} {sorted(data)[:3]}")

    def report(self):
        lines = [f"{word}: {'; '.join(sorted(where)[:3])}" for word, where in sorted(self.found.items())]
        return f"{len(self.found)} English words on {self.pages} pages:\n" + "\n".join(lines)


HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def operadora(db, django_user_model):
    user = django_user_model.objects.create_superuser("operadora", password="x")
    client = Client(HTTP_ACCEPT_LANGUAGE="pt-BR")
    client.force_login(user)
    client.user = user
    return client


def test_every_page_reads_in_portuguese(operadora):
    world = build_world(operadora)
    reader = Reader(operadora, english_words())
    assert "succeeded" in reader.english and "nome" not in reader.english

    urls = dashboard_urls()
    unknown = [name for name, route in urls if "<" in route and name not in OBJECTS | KIND_PAGES.keys() | SKIPPED_URLS]
    assert not unknown, f"name the object of these URLs in OBJECTS: {unknown}"

    def url_of(name):
        return reverse(name, args=[world[OBJECTS[name]].pk]) if name in OBJECTS else reverse(name)

    # the settings block of every kind, as the kind select swaps it in
    for name, endpoints in KIND_PAGES.items():
        if name in dict(urls):
            for endpoint, registry in endpoints.items():
                for kind in registry.names():
                    if type(registry.get(kind)).__module__.startswith("tests."):
                        continue  # the test suite's own kinds
                    reader.get(reverse(name, args=[endpoint]) + f"?kind={kind}", **HTMX)

    # every page and partial, whole and as htmx asks for it
    for name, _route in urls:
        if name in SKIPPED_URLS or name in ACTIONS or name in KIND_PAGES:
            continue
        for headers in ({}, HTMX):
            response = operadora.get(url_of(name), **headers)
            if response.status_code != 405:
                reader.read(response, f"GET {url_of(name)}")
    for query in ("?status=failed", "?status=skipped&trigger=retry", "?q=nada", "?kind=noop&state=paused"):
        for name in ("scheduler:runs", "scheduler:jobs", "scrapers:items", "channels_app:deliveries"):
            reader.get(url_of(name) + query)
    for name in ("scrapers:sources", "scrapers:people", "scrapers:publications"):
        reader.get(url_of(name) + "?q=nada")
    for status in Run.Status.values:
        reader.get(reverse("scheduler:run", args=[world[f"run_{status}"].pk]))
    for kind in ("json", "feed", "page_watch"):
        reader.get(reverse("scrapers:source", args=[world[f"source_{kind}"].pk]))
    for kind in ("email", "webhook", "apprise", "outbox"):
        reader.get(reverse("channels_app:channel", args=[world[f"channel_{kind}"].pk]))
    for status in Delivery.Status.values:
        reader.get(reverse("channels_app:delivery", args=[world[f"delivery_{status}"].pk]))
    reader.get(reverse("scrapers:people_transfer", args=[world["transfer_export"].pk]))
    for job in Job.objects.all():
        reader.get(reverse("scheduler:job", args=[job.pk]))

    # every form: empty, then a bad value in every field
    for name in sorted(FORMS):
        url = url_of(name)
        page = operadora.get(url)
        fields = _form_fields(page.content.decode()) if page.status_code == 200 else []
        for headers in ({}, HTMX):
            reader.post(url, {}, **headers)
            reader.post(url, {field: BAD for field in fields} or {"name": BAD}, **headers)
    reader.post(reverse("scheduler:cron_preview"), {"cron": "61 * * * *", "timezone": "Marte/Base"})
    reader.post(reverse("scheduler:cron_preview"), {"cron": "0 9 * * 1-5", "timezone": "America/Sao_Paulo"})
    reader.post(reverse("scheduler:cron_preview"), {"cron": "0 0 30 2 *", "timezone": "UTC"})
    for show in ("alerting", "silenced"):
        reader.get(reverse("channels_app:alerts") + f"?show={show}")
    subject = f"job:{world['job'].pk}"
    for headers in ({}, HTMX):  # the alert panel's policy form and actions, with bad values
        reader.post(reverse("channels_app:alert_policy"), {"subject": subject, "alert_after": "0"}, **headers)
        policy = {field: BAD for field in ("alert_after", "remind_minutes", "expect_every", "expect_grace")}
        reader.post(reverse("channels_app:alert_policy"), {"subject": subject, **policy}, **headers)
        reader.post(reverse("channels_app:alert_policy"), {"subject": subject, "remind_every": "other"}, **headers)
        reader.post(reverse("channels_app:alert_policy"), {"subject": subject, "alert_after": "2"}, **headers)
        for do in ("acknowledge", "1h", "unsilence"):
            reader.post(reverse("channels_app:alert_act"), {"subject": subject, "do": do, "where": "panel"}, **headers)
        reader.post(reverse("channels_app:alert_act"), {"subject": subject, "do": "until", "until": BAD}, **headers)
        reader.post(reverse("channels_app:alert_act"), {"subject": subject, "do": "until", "where": "list"}, **headers)
    upload = SimpleUploadedFile("pessoas.txt", b"\x00\x01", content_type="text/plain")
    reader.post(reverse("scrapers:people_import"), {"file": upload})

    # every action button, its answer or the page it leads to (with its flash message)
    for name in sorted(ACTIONS - FORMS):
        for headers in (HTMX, {}):
            reader.post(url_of(name), {"token": world["token"].pk}, **headers)

    # the admin: index, every changelist, add and change page, the add form's errors, every action's message
    reader.get(reverse("admin:index"))
    request = RequestFactory().get("/admin/")
    request.user = operadora.user
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        reader.get(changelist)
        if model_admin.has_add_permission(request):
            add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
            reader.get(add)
            reader.post(add, {"_save": "Salvar"}, follow=False)
        first = model.objects.order_by("pk").first()
        if first is not None:
            reader.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]))
            for action in model_admin.get_actions(request):
                if action != "delete_selected":
                    reader.post(changelist, {"action": action, "_selected_action": [first.pk]})
    for job in (world["job"], world["job_paused"], world["source_html"].job):
        reader.get(reverse("admin:scheduler_job_change", args=[job.pk]))
    for run in Run.objects.all()[:12]:
        reader.get(reverse("admin:scheduler_run_change", args=[run.pk]))

    assert not reader.found, reader.report()


# --- what is not a page: messages to channels, recorded errors, schedule errors ----------------------------------


def test_messages_are_written_in_the_sites_language_with_its_dates():
    """The built-in wordings are Portuguese; their dates follow settings.LANGUAGE_CODE (02/03/2026 in pt-BR),
    whoever triggers the message, and their counts agree with their nouns."""
    publication = {**rendering.sample("publication.new"), "date": "2026-03-02"}
    expired = rendering.sample("people.expired")
    failed = {**rendering.sample("job.failed"), "attempt": 1, "status": "timed_out"}
    with override_settings(LANGUAGE_CODE="pt-br"), translation.override("en"):
        assert "TJSP · 02/03/2026 · Intimação" in rendering.render("publication.new", publication).text
        assert "(até 01/03/2026)" in rendering.render("people.expired", expired).text
    with override_settings(LANGUAGE_CODE="en"):
        assert "TJSP · 2026-03-02 · Intimação" in rendering.render("publication.new", publication).text
    assert rendering.render("people.expired", expired).text.startswith("⌛ 2 monitoramentos encerrados:")
    one = {**expired, "count": 1, "people": expired["people"][:1]}
    assert rendering.render("people.expired", one).text.startswith("⌛ 1 monitoramento encerrado:")
    text = rendering.render("job.failed", rendering.sample("job.failed")).text
    assert text.startswith("❌ A rotina *Relatório diário* falhou após 3 tentativas.")
    assert (
        "❌ A rotina *Relatório diário* excedeu o tempo limite após 1 tentativa."
        in rendering.render("job.failed", failed).text
    )


def test_what_the_engine_records_in_english_is_read_in_the_readers_language():
    with translation.override("en"):  # a worker records it
        detail = str(pytest.raises(schedules.ScheduleError, schedules.parse_cron, "61 * * * *").value)
    reason = endings.UNPLANNABLE % {"schedule": "61 * * * * (UTC)", "detail": detail}
    assert reason == (
        "Paused: the schedule cannot be evaluated (61 * * * * (UTC)): "
        "The minute field '61' is not valid (allowed 0–59)."
    )
    with translation.override("pt-br"):
        assert recorded.translated(reason) == (
            "Pausada: o agendamento não pode ser avaliado (61 * * * * (UTC)): "
            "O campo minuto '61' não é válido (permitido: 0–59)."
        )
        assert recorded.translated(checks.EMPTY_PAGE % {"count": 4}) == (
            "Os seletores podem estar quebrados: 0 itens onde a última verificação encontrou 4."
        )
        assert recorded.translated("Service Unavailable") == "Service Unavailable"  # an upstream's words: as stored
        assert recorded.translated("HTTP 503 from 127.0.0.1:8080") == "HTTP 503 de 127.0.0.1:8080"  # a job's call
        # a schedule error met in a request is in the request's language
        with pytest.raises(schedules.ScheduleError, match="O campo dia do mês '32' não é válido"):
            schedules.parse_cron("0 0 32 * *")
    with translation.override("en"), pytest.raises(schedules.ScheduleError, match="The day of month field '32'"):
        schedules.parse_cron("0 0 32 * *")
