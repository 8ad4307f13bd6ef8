"""Fallback URLs: when a source's URL fails, its mirrors (another page, a static export) are tried in order."""

import json

import pytest
from django.urls import reverse

from channels_app.models import Channel, Delivery, Recipient, Subscription
from scheduler import services
from scheduler.errors import PermanentError, TransientError
from scheduler.execution import execute_run
from scheduler.models import Run
from scrapers import ratelimit
from scrapers.models import Item, Source
from scrapers.sources import checks
from scrapers.sources.services import SourceForm
from tests.loopback import organizer
from tests.loopback.login_site import USER, LoginSite
from tests.loopback.organizer import CONFIG, page
from tests.loopback.server import LoopbackServer, closed_url
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db
TASKS = [(1, "Tarefa 1", "Traga um guarda-chuva"), (2, "Tarefa 2", "Cante")]
NEW = (3, "Tarefa 3", "Nova")
BY_LINK = {key: value for key, value in CONFIG.items() if key != "id"}  # items keyed by their (relative) link
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.VIGIA_FETCH_RETRIES = 0  # each failure at once: the fallbacks are what is tested


@pytest.fixture
def mirror():
    """The organizer's static export, at another address and path."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def events(monkeypatch):
    published = []
    monkeypatch.setattr(checks, "publish", lambda topic, event, key=None, also=(): published.append(event))
    return published


def make_source(site, mirror, **fields):
    fields.setdefault("fallback_urls", [mirror.url + "/export/tarefas.html"])
    return organizer.make_source(site.url + "/tarefas", **fields)


def serve(server, path, *tasks, **kwargs):
    server.reset()
    server.respond(path, body=page(*tasks), headers={**HTML, **kwargs.pop("headers", {})}, **kwargs)


def check(source, **kwargs):
    source.refresh_from_db()
    return checks.check_source(source, **kwargs)


def test_a_503_falls_back_to_the_mirror_and_the_run_says_which_url_answered(site, mirror):
    site.respond("/tarefas", status=503)
    serve(mirror, "/export/tarefas.html", *TASKS)
    source = make_source(site, mirror)
    run = services.run_now(source.job)

    assert execute_run(run.id) == "succeeded"

    run.refresh_from_db()
    assert run.result["via"] == "fallback 1" and run.result["found"] == 2
    assert run.result["primary_error"].startswith("HTTP 503 from 127.0.0.1")
    assert Source.objects.get(pk=source.pk).last_check["via"] == "fallback 1"
    assert sorted(Item.objects.filter(source=source).values_list("key", flat=True)) == ["1", "2"]


@pytest.mark.parametrize("config", [CONFIG, BY_LINK], ids=["keyed by id", "keyed by link"])
def test_primary_then_mirror_then_primary_announces_each_task_once(site, mirror, events, config, settings):
    source = make_source(site, mirror, config=config, announce_first_check=True)
    serve(site, "/tarefas", *TASKS)
    assert len(check(source).new) == 2
    keys = set(Item.objects.filter(source=source).values_list("key", flat=True))

    serve(site, "/tarefas", status=503)
    serve(mirror, "/export/tarefas.html", *TASKS, NEW)
    through_mirror = check(source)
    assert through_mirror.via == "fallback 1"
    assert len(through_mirror.new) == 1 and through_mirror.updated == []
    assert set(Item.objects.filter(source=source).values_list("key", flat=True)) >= keys  # the same keys
    # A link read on the mirror points where it points on the source's page.
    assert Item.objects.get(source=source, title="Tarefa 3").url == site.url + "/t/3"

    serve(site, "/tarefas", *TASKS, NEW)
    back = check(source)
    assert back.via == "" and back.new == [] and back.updated == []
    assert Item.objects.filter(source=source).count() == 3
    assert [event["title"] for event in events if event["type"] == "item.new"] == ["Tarefa 1", "Tarefa 2", "Tarefa 3"]
    assert not [event for event in events if event["type"] == "item.updated"]


@pytest.mark.parametrize(
    "failure",
    [{"status": 503}, {"status": 404}, {"status": 410}, {"delay": 3}],
    ids=["503", "404", "410", "timeout"],
)
def test_failures_reaching_the_page_fall_back(site, mirror, failure):
    serve(site, "/tarefas", **failure)
    serve(mirror, "/export/tarefas.html", *TASKS)
    source = make_source(site, mirror, timeout_seconds=1)
    outcome = check(source)
    assert outcome.via == "fallback 1" and len(outcome.items) == 2


def test_the_fallbacks_are_tried_in_order(site, mirror):
    site.respond("/tarefas", status=503)
    serve(mirror, "/export/tarefas.html", *TASKS)
    source = make_source(site, mirror, fallback_urls=[closed_url() + "/x", mirror.url + "/export/tarefas.html"])
    outcome = check(source)
    assert outcome.via == "fallback 2"
    assert outcome.summary()["via"] == "fallback 2"


def test_when_every_url_fails_the_error_names_each(site, mirror):
    site.respond("/tarefas", status=503)
    mirror.respond("/export/tarefas.html", status=500)
    source = make_source(site, mirror)
    with pytest.raises(TransientError) as failed:
        check(source)
    message = str(failed.value)
    assert message.startswith("HTTP 503 from 127.0.0.1") and "fallback 1: HTTP 500 from 127.0.0.1" in message
    source.refresh_from_db()
    assert source.last_error == message and source.consecutive_failures == 1


def test_a_page_that_answers_is_parsed_even_when_empty_no_fallback(site, mirror):
    serve(site, "/tarefas", *TASKS)
    serve(mirror, "/export/tarefas.html", *TASKS, NEW)
    source = make_source(site, mirror)
    assert check(source).via == ""
    assert not mirror.requests


def test_validators_are_only_sent_to_the_url_that_gave_them(site, mirror):
    serve(site, "/tarefas", *TASKS, headers={"ETag": '"v1"'})
    source = make_source(site, mirror)
    check(source)
    assert Source.objects.get(pk=source.pk).etag == '"v1"'

    serve(site, "/tarefas", status=503)
    serve(mirror, "/export/tarefas.html", *TASKS, NEW, headers={"ETag": '"m1"'})
    assert check(source).via == "fallback 1"
    assert mirror.requests[0].header("If-None-Match") is None
    assert Source.objects.get(pk=source.pk).etag == ""  # the mirror's would be wrong for the source's URL

    serve(site, "/tarefas", *TASKS, NEW)
    assert check(source).via == ""
    assert site.requests[0].header("If-None-Match") is None


def test_a_rejected_login_does_not_fall_back(mirror):
    serve(mirror, "/export/tarefas.html", *TASKS)
    with LoginSite() as site:
        source = site.make_source(
            login_fields={"email": USER, "senha": "errada"}, fallback_urls=[mirror.url + "/export/tarefas.html"]
        )
        with pytest.raises(PermanentError, match="^Login rejected: "):
            check(source)
    assert not mirror.requests


def test_a_mirror_on_the_login_host_gets_the_session_one_elsewhere_does_not(mirror):
    serve(mirror, "/export/tarefas.html", *TASKS)
    with LoginSite() as site:
        site.tasks = list(TASKS)
        source = site.make_source(fallback_urls=[mirror.url + "/export/tarefas.html"])
        check(source)
        site.server.respond("/tarefas", status=503)
        assert check(source).via == "fallback 1"
    assert all(request.header("Cookie") is None for request in mirror.requests)


# --- the form -----------------------------------------------------------------------------------------------
def form_errors(fallback_urls):
    data = {"name": "S", "kind": "html", "url": "http://127.0.0.1:9/tarefas", "config": json.dumps(CONFIG)}
    data.update(interval_seconds=30, timeout_seconds=5, timezone="UTC", method="GET", fallback_urls=fallback_urls)
    form = SourceForm(data=data)
    return {} if form.is_valid() else form.errors


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("http://127.0.0.1:9/a\nftp://127.0.0.1/b", "Line 2: Use an http:// or https:// address."),
        ("not a url", "Line 1: Use an http:// or https:// address."),
        ("http://169.254.169.254/latest", "Line 1: 169.254.169.254 is not a public address"),
        ("http://127.0.0.1:9/a\nhttp://127.0.0.1:9/a", "Line 2: given twice."),
        ("\n".join(f"http://127.0.0.1:9/{n}" for n in range(6)), "At most 5 fallback URLs."),
    ],
)
def test_bad_fallback_urls_are_a_field_error(typed, message):
    errors = form_errors(typed)
    assert message in " ".join(errors["fallback_urls"]), errors


def test_fallback_urls_are_typed_one_per_line_and_shown_the_same():
    assert form_errors("http://127.0.0.1:9/a\n\n  http://127.0.0.1:9/b  \n") == {}
    form = SourceForm(data={"fallback_urls": "http://127.0.0.1:9/a\n http://127.0.0.1:9/b"})
    form.is_valid()
    assert form.cleaned_data["fallback_urls"] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    shown = SourceForm(initial={"fallback_urls": ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]})
    assert shown["fallback_urls"].value() == "http://127.0.0.1:9/a\nhttp://127.0.0.1:9/b"


def test_the_source_page_says_the_check_came_from_a_fallback(site, mirror, staff_client):
    site.respond("/tarefas", status=503)
    serve(mirror, "/export/tarefas.html", *TASKS)
    source = make_source(site, mirror)
    check(source)
    html = staff_client.get(reverse("scrapers:source", args=[source.pk])).content.decode()
    assert "(from fallback URL 1: the URL failed)" in html
    assert 'title="HTTP 503 from 127.0.0.1' in html


# --- on real processes ----------------------------------------------------------------------------------------
@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_real_workers_keep_announcing_through_the_mirror_while_the_site_is_down(processes):
    """The organizer's site falls over mid-gincana; the static export keeps the tasks coming, each announced
    once to a subscriber, and nothing again when the site is back."""
    with LoopbackServer() as site, LoopbackServer() as export:
        for server in (site, export):
            ratelimit.set_rate(ratelimit.host_key(server.url), 1000)
        serve(site, "/tarefas", *TASKS)
        outbox = Channel.objects.create(name="Caixa", kind="outbox")
        Subscription.objects.create(recipient=Recipient.objects.create(channel=outbox, address=""), topic="source:*")
        source = make_source(site, export, interval_seconds=1, announce_first_check=True)
        processes.scheduler()
        processes.qcluster(VIGIA_WORKERS=2, VIGIA_FETCH_RETRIES="0")
        wait_for(lambda: Item.objects.filter(source=source).count() == 2, 30, message="the first check")

        serve(site, "/tarefas", status=503)
        serve(export, "/export/tarefas.html", *TASKS, NEW)
        wait_for(lambda: Item.objects.filter(source=source, key="3").exists(), 30, message="the mirror's new task")
        assert Source.objects.get(pk=source.pk).last_check.get("via") == "fallback 1"

        serve(site, "/tarefas", *TASKS, NEW)
        back = Source.objects.filter(pk=source.pk, last_check__status__in=["checked", "unchanged"])
        wait_for(lambda: back.exclude(last_check__has_key="via").exists(), 30, message="the site back")
        wait_for(lambda: not Delivery.objects.exclude(status=Delivery.Status.SENT).exists(), 30, message="deliveries")
        titles = Delivery.objects.filter(recipient__channel=outbox).values_list("event__payload__title", flat=True)
        assert sorted(titles) == ["Tarefa 1", "Tarefa 2", "Tarefa 3"]  # each once, whichever address it came from
        assert not Run.objects.filter(job=source.job, status=Run.Status.FAILED).exists()
