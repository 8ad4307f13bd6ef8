"""Secrets never appear in any page's HTML, API response, log line or export (issue 16), checked by searching
for each secret's value in everything a test run captured.

A canary (a unique random string) is put in every place a secret lives: a Wuzapi channel's token, the SMTP
password of the e-mail channel, a webhook channel's signing secret and the password inside its URL, an Apprise
URL's password, a source's Cookie and Authorization headers, an http_request job's header values, an API token
and its callback secret (and the secrets of tests.security.world). Then the secrets are used: the source is
checked against a loopback organizer that echoes the headers it got, the job runs against a loopback receiver
that echoes them too, a delivery goes through each channel kind (loopback Wuzapi, webhook and Apprise receivers,
an SMTP stand-in that refuses the login), a callback is signed and sent. Then everything is read: every
dashboard page walked from the URL resolver (also as htmx asks for it) and the Django admin's pages of every
registered model and object, as a superuser; every GET of the API with a token of all scopes; the exports (the
export commands, dumpdata, the people export's file, the publications CSV); every log line written meanwhile,
through the configured filters in both the text and the JSON formats (and the records as logged, before any
filter); the e-mails sent; and every row of the database as stored.

A failure names where each canary was found (the URL, the log line, the table), never the whole page."""

import io
import json
import logging
import re
import secrets
import socketserver
import threading
from contextlib import contextmanager, redirect_stdout

import pytest
from django.contrib import admin
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from channels_app import callbacks, sending, tokens
from channels_app.events import publish
from channels_app.kinds import base as kinds
from channels_app.models import Channel, Delivery, Message, Recipient, Subscription
from config.api import api
from scheduler import services
from scheduler.execution import execute_run
from scheduler.models import Run
from scheduler.shared import logs
from scheduler.shared.api_callers import SCOPES
from scrapers.models import Source
from scrapers.people import transfers
from scrapers.sources import checks
from tests.loopback import organizer
from tests.loopback.server import LoopbackServer, Response
from tests.loopback.wuzapi import FakeWuzapi
from tests.security import walk, world
from tests.support.factories import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

NOT_DASHBOARD = ("admin/", "api/v1/")
LEAVES = {"login", "logout"}  # would end the session (login redirects a signed-in user; harmless but useless)
ADMIN_OBJECTS_PER_MODEL = 12  # change/history pages of this many rows of each registered model
# Loggers kept at INFO: their DEBUG lines are the template engine's missing variables (a traceback each, for
# every page: most of the test's time) and SQL, which carries ciphertext, never a plaintext secret.
QUIET = {"django.template", "django.db.backends"}
OUR_LOGGERS = ("vigia", "scheduler", "scrapers", "channels_app", "config", "django.request", "django.security")


def canary(label):
    """A value no page or log has any reason to hold, and that no redaction pattern recognizes by its shape."""
    return f"cnry{label}{secrets.token_hex(10)}"


class Sweep:
    """Every captured text, searched for every canary as it comes (nothing big is kept)."""

    def __init__(self, canaries):
        self.canaries = dict(canaries)  # label → value
        self.found: list[str] = []
        self.looked = 0

    def scan(self, where, text):
        self.looked += 1
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        for label, value in self.canaries.items():
            at = text.find(value)
            if at >= 0:
                context = text[max(0, at - 60) : at].replace("\n", " ")
                self.found.append(f"{where}: {label} (after …{context!r})")

    def response(self, where, response):
        body = b"".join(response.streaming_content) if response.streaming else response.content
        self.scan(f"{where} [{response.status_code}] body", body)
        self.scan(f"{where} headers", json.dumps(dict(response.headers.items())))
        return response


# --- log capture -------------------------------------------------------------------------------------------


class _Lines(logging.Handler):
    """Keeps each formatted line (the configured filters applied first, as the console handler does)."""

    def __init__(self, formatter, filters):
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        for one in filters:
            self.addFilter(one)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class _Records(logging.Handler):
    """The records as logged, before any filter rewrites them: message, string extras and traceback."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call is logging's own problem
            message = repr(record.msg)
        extras = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        trace = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        self.lines.append(f"{record.name} {message} {extras!r} {trace}")


@contextmanager
def every_log_line():
    """(text lines, JSON lines, raw records) of everything logged meanwhile, every logger at DEBUG."""
    text = _Lines(
        logs.TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"),
        [logs.LogContextFilter(), logs.RedactSecretsFilter()],
    )
    as_json = _Lines(logs.JsonFormatter(), [logs.LogContextFilter(), logs.RedactSecretsFilter()])
    raw = _Records()
    root = logging.getLogger()
    loggers = [root] + [
        logging.getLogger(name)
        for name, one in logging.root.manager.loggerDict.items()
        if isinstance(one, logging.Logger)
    ]
    levels = {one: one.level for one in loggers}
    disabled = {one: one.disabled for one in loggers}
    root.handlers.insert(0, raw)  # first: it sees the records before a filter rewrites them in place
    root.addHandler(text)
    root.addHandler(as_json)
    for one in loggers:
        one.setLevel(logging.INFO if one.name in QUIET else logging.DEBUG)
        one.disabled = False
    try:
        yield text, as_json, raw
    finally:
        for one in (raw, text, as_json):
            root.removeHandler(one)
        for one, level in levels.items():
            one.setLevel(level)
            one.disabled = disabled[one]


# --- an SMTP server that refuses the login ------------------------------------------------------------------


class _Smtp(socketserver.StreamRequestHandler):
    def say(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.say("220 loopback ESMTP")
        for raw in self.rfile:
            command = raw.decode(errors="replace").strip()
            self.server.heard.append(command)
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.say("250-loopback")
                self.say("250 AUTH PLAIN LOGIN")
            elif verb == "AUTH":
                self.say("535 5.7.8 authentication failed")
            elif verb == "QUIT":
                self.say("221 bye")
                return
            else:
                self.say("250 ok")


@contextmanager
def refusing_smtp():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.daemon_threads = True
    server.heard = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# --- the world with its canaries ------------------------------------------------------------------------------


def echo(request):
    """An upstream that repeats what it was sent, headers included, in its body and its headers."""
    sent = json.dumps(request.headers)
    return Response(body={"you sent": request.headers}, headers={"X-Echo": sent.replace("\n", " ")[:4000]})


def organizer_echo(request):
    """An organizer's page that repeats the request's headers outside its items (in a comment and a header)."""
    html = organizer.page((1, "Reunião", "pauta")).replace("<ul>", f"<!-- {json.dumps(request.headers)} --><ul>")
    return Response(
        body=html, headers={"Content-Type": "text/html; charset=utf-8", "X-Echo": json.dumps(request.headers)}
    )


def plant(sites, settings):
    """The canaries in every place a secret lives, and the objects that hold them; {label: value}."""
    site, receiver, wuzapi, smtp = sites
    c = {
        label: canary(label)
        for label in (
            "smtppassword",
            "webhooksecret",
            "appriseurlpassword",
            "sourcecookie",
            "sourcebearer",
            "jobbearer",
            "jobteam",
        )
    }
    c["wuzapitoken"] = wuzapi.token
    options = {"host": "127.0.0.1", "port": smtp.server_address[1], "timeout": 5}
    options.update(username="vigia", password=c["smtppassword"])
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}

    host = receiver.url.removeprefix("http://")
    channels = [
        Channel.objects.create(
            name="sweep wuzapi", kind="wuzapi", config={"base_url": wuzapi.url}, secrets={"token": c["wuzapitoken"]}
        ),
        Channel.objects.create(name="sweep email", kind="email", config={"from_email": "vigia@example.org"}),
        Channel.objects.create(
            name="sweep webhook",
            kind="webhook",
            config={"url": f"http://{host}/hook"},
            secrets={"secret": c["webhooksecret"]},
        ),
        Channel.objects.create(
            name="sweep apprise",
            kind="apprise",
            config={},
            secrets={"urls": f"json://notify:{c['appriseurlpassword']}@{host}/apprise"},
        ),
    ]
    addresses = {"wuzapi": "5511987654321", "email": "ana@example.org", "webhook": "crm", "apprise": "ops"}
    for channel in channels:
        person = Recipient.objects.create(channel=channel, label=channel.kind, address=addresses[channel.kind])
        Subscription.objects.create(recipient=person, topic="sweep:1")

    c["control"] = canary("control")  # not a secret: the source's name, which must be found (the sweep works)
    source = organizer.make_source(
        site.url + "/tarefas",
        name=c["control"],
        headers={"Cookie": f"session={c['sourcecookie']}", "Authorization": f"Bearer {c['sourcebearer']}"},
    )
    job = make_job(
        name="sweep hook",
        kind="http_request",
        params={
            "url": receiver.url + "/echo",
            "method": "POST",
            "headers": {"Authorization": f"Bearer {c['jobbearer']}", "X-Team": c["jobteam"]},
        },
    )
    failing = make_job(
        name="sweep hook down",
        kind="http_request",
        params={"url": receiver.url + "/down", "method": "GET", "headers": {"X-Team": c["jobteam"]}},
    )
    token, raw = tokens.create("sweep", scopes=SCOPES)
    c["apitoken"] = raw
    c["callbacksecret"] = token.callback_secret["secret"]
    return c, {"channels": channels, "source": source, "jobs": [job, failing], "token": token}


def use_the_secrets(objects, sites, sweep):
    """Each secret does its work once: fetches, runs, deliveries, a signed callback."""
    site, receiver, _wuzapi, _smtp = sites
    site.respond("/tarefas", handler=organizer_echo)
    receiver.respond("/echo", handler=echo)
    receiver.respond("/hook", handler=echo)
    receiver.respond("/apprise", handler=echo)
    receiver.respond("/down", handler=lambda request: Response(status=500, body=json.dumps(request.headers)))
    receiver.respond("/callback", handler=echo)
    checks.check_source(Source.objects.get(pk=objects["source"].pk))
    for job in objects["jobs"]:
        run = services.run_now(job)
        execute_run(run.id)
    event = publish("sweep:1", {"type": "item.new", "title": "Edital", "source_name": "Prefeitura", "source": 1})
    for delivery in Delivery.objects.filter(event=event):
        sending.send_delivery(delivery.pk)
    token = objects["token"]
    body = {"channel": "sweep wuzapi", "to": "5511987654321", "body": "oi", "service": "crm", "key": "sweep"}
    answer = Client().post(
        "/api/v1/messages",
        json.dumps({**body, "callback_url": receiver.url + "/callback"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {sweep.canaries['apitoken']}",
    )
    assert answer.status_code < 300, answer.content
    sweep.response("POST /api/v1/messages", answer)
    callback = callbacks.schedule("run:1", receiver.url + "/callback", {"type": "run"}, f"token:{token.pk}")
    callbacks.send(callback.pk)
    for index, message in enumerate(mail.outbox):
        sweep.scan(f"e-mail #{index}", message.message().as_string())
    for index, request in enumerate(site.requests + receiver.requests):
        if request.path == "/down":
            continue
        # what upstreams were told is theirs to know (the headers were meant for them), but never the body
        sweep.scan(f"upstream request body {request.path} #{index}", request.body)


def admin_pages(seen):
    """The change and history pages of rows of every registered model, beyond the one the walk fills in."""
    for model in admin.site._registry:
        label = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        for pk in model.objects.order_by("-pk").values_list("pk", flat=True)[:ADMIN_OBJECTS_PER_MODEL]:
            for view in ("change", "history"):
                path = reverse(f"{label}_{view}", args=[pk])
                if path not in seen:
                    seen.add(path)
                    yield path


def api_gets(objects_by_prefix):
    """Every GET of the API's OpenAPI document, with its ids filled from each of the given objects."""
    document = api.get_openapi_schema()
    paths = set()
    for path, methods in document["paths"].items():
        if "get" not in methods:
            continue
        for variant in objects_by_prefix:
            paths.add(_fill_api(path, variant))
    return sorted(paths)


def _fill_api(path, objects):
    def fill(match):
        before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        job = objects["jobs"]
        if before == "by-key" or match.group(1) == "service":
            return job.external_service or "crm"
        if match.group(1) == "key":
            return job.external_key or "k"
        if match.group(1) == "message_id" or before == "messages":
            return str(objects["messages"].pk)
        return str(objects[before].pk)

    return re.sub(r"\{([^}]+)\}", fill, path)


def dashboard_variants(base, objects):
    """The world's objects, and the same with each canary-holding object put in its place."""
    yield base.objects
    for channel in objects["channels"]:
        yield {**base.objects, "channels": channel, "recipients": channel.recipients.first()}
    yield {
        **base.objects,
        "sources": objects["source"],
        "items": objects["source"].items.first() or base.objects["items"],
    }
    for job in objects["jobs"]:
        yield {**base.objects, "jobs": job, "runs": Run.objects.filter(job=job).first() or base.objects["runs"]}
    for delivery in Delivery.objects.filter(recipient__channel__in=objects["channels"]):
        yield {**base.objects, "deliveries": delivery}


def test_no_secret_appears_in_any_page_api_answer_log_line_export_or_row(settings, django_user_model):
    settings.VIGIA_API_RATE_PER_MINUTE = 0
    settings.VIGIA_METRICS_TOKEN = canary("metricstoken")
    with (
        LoopbackServer() as site,
        LoopbackServer() as receiver,
        FakeWuzapi(token=canary("wuzapitoken")) as wuzapi,
        refusing_smtp() as smtp,
        every_log_line() as (text_lines, json_lines, raw_records),
    ):
        sites = (site, receiver, wuzapi, smtp)
        base = world.build(lambda label: f"sweep {label}")
        planted, objects = plant(sites, settings)
        sweep = Sweep(
            {
                **planted,
                "worldchannelsecret": world.CHANNEL_SECRET,
                "worldapitoken": base.secrets[1],
                "metricstoken": settings.VIGIA_METRICS_TOKEN,
            }
        )
        use_the_secrets(objects, sites, sweep)
        assert any(request.path == "/tarefas" for request in site.requests), "the source was not fetched"
        assert wuzapi.requests, "nothing reached the Wuzapi stand-in"
        reached = {request.path for request in receiver.requests}
        assert {"/echo", "/down", "/hook", "/apprise", "/callback"} <= reached, reached
        assert any(command.upper().startswith("AUTH") for command in smtp.heard), "the e-mail never tried to log in"

        boss = django_user_model.objects.create_superuser("sweep-boss", "boss@example.org", "x")
        client = Client()
        client.force_login(boss)

        # the dashboard, full pages and htmx partials, with each canary-holding object in turn
        seen = set()
        pages = []
        for variant in dashboard_variants(base, objects):
            for page in walk.pages(world.World(objects=variant)):
                if page.path not in seen and walk.resolve(page.path).view_name not in LEAVES:
                    seen.add(page.path)
                    pages.append(page)
        dashboard = [page for page in pages if not page.route.startswith(NOT_DASHBOARD)]
        assert len(dashboard) > 60, len(dashboard)
        for page in dashboard:
            sweep.response(f"GET {page.path}", client.get(page.path))
            sweep.response(f"GET {page.path} (htmx)", client.get(page.path, HTTP_HX_REQUEST="true"))
        sweep.response("GET /metrics", Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong"))

        # the Django admin: every routed admin page (index, changelists, add pages…), then rows' change pages
        admin_paths = [page.path for page in pages if page.route.startswith("admin/")]
        admin_paths += list(admin_pages(seen))
        assert len(admin_paths) > 60, len(admin_paths)
        for path in admin_paths:
            if path.endswith("/logout/"):
                continue
            sweep.response(f"GET {path}", client.get(path))

        # the API: every GET, as a token of all scopes
        auth = {"HTTP_AUTHORIZATION": f"Bearer {planted['apitoken']}"}
        variants = []
        for variant in dashboard_variants(base, objects):
            variants.append(
                {**variant, "messages": Message.objects.order_by("pk").first(), "people": variant["people"]}
            )
        api_paths = api_gets(variants)
        assert len(api_paths) > 10, api_paths
        for path in api_paths:
            sweep.response(f"GET {path} (API)", Client().get(path, **auth))
        sweep.response("GET /api/v1/openapi.json", Client().get("/api/v1/openapi.json"))

        # exports: the commands, dumpdata, the people export's file, the publications CSV (walked above too)
        for command in ("export_jobs", "export_sources", "export_people", "dumpdata"):
            out = io.StringIO()
            with redirect_stdout(io.StringIO()):
                call_command(command, stdout=out)
            sweep.scan(f"manage.py {command}", out.getvalue())
        export = transfers.start_export(filters={})
        transfers.run_export(export.pk)
        sweep.response(
            "GET people export download",
            client.get(reverse("scrapers:people_transfer_download", args=[export.pk])),
        )
        sweep.response("GET publications CSV", client.get(reverse("scrapers:publications_export")))

        # the database as stored: encrypted columns hold ciphertext; a plaintext canary anywhere is a leak
        for table, rows in world.snapshot().items():
            for row in rows:
                sweep.scan(f"database row of {table} (pk {row[0]})", " ".join(map(str, row)))

    # the log lines written meanwhile, in both formats; and our own code's records before any filter (a library's
    # DEBUG line may repeat what an upstream echoed, or a URL with its password: the console's filter masks those)
    for name, lines in (
        ("text log", text_lines.lines),
        ("JSON log", json_lines.lines),
        ("log record", raw_records.lines),
    ):
        for number, line in enumerate(lines):
            if name != "log record" or line.startswith(OUR_LOGGERS):
                sweep.scan(f"{name} line {number} ({line[:80]!r})", line)
    assert text_lines.lines and json_lines.lines

    assert sweep.looked > 400, sweep.looked
    control = [where for where in sweep.found if ": control (" in where]
    for place in ("GET /sources/", "GET /admin/scrapers/source/", "(API)", "manage.py export_sources", "database row"):
        assert any(place in where for where in control), f"the sweep never saw the source's name in {place}"
    found = [where for where in sweep.found if ": control (" not in where]
    assert not found, "secrets found:\n" + "\n".join(dict.fromkeys(found))


def test_a_password_inside_a_channel_url_is_refused_and_a_stored_one_never_shown(
    viewer_client, staff_client, admin_client
):
    password = canary("webhookurlpassword")
    url = f"https://hook:{password}@hooks.example.org/in"
    refused = kinds.channel_kinds.clean  # the one validation of the page, the admin, the API and the commands
    with pytest.raises(ValidationError) as raised:
        refused("webhook", {"url": url, "secret": canary("webhooksecret")})
    assert list(raised.value.message_dict) == ["config.url"] and password not in str(raised.value)
    # A channel saved before addresses refused passwords: its pages show ******** in its place.
    channel = Channel.objects.create(
        name="basic auth hook",
        kind="webhook",
        config={"url": url},
        secrets={"secret": canary("webhooksecret")},
    )
    sweep = Sweep({"webhookurlpassword": password})
    for client, path in (
        (viewer_client, reverse("channels_app:channel", args=[channel.pk])),  # a viewer may see no secret
        (staff_client, reverse("channels_app:channel", args=[channel.pk])),
        (staff_client, reverse("channels_app:channels")),
        (admin_client, reverse("admin:channels_app_channel_change", args=[channel.pk])),
    ):
        sweep.response(f"GET {path}", client.get(path))
    assert not sweep.found, "\n".join(sweep.found)
