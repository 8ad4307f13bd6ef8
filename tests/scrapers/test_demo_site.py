"""The demo `up` runs (issue 17): the demo organizer site (a gincana task every minute, labelled as a demo,
answering conditional requests), the demo data that watches it (loaded once, moved with the site, removed by one
command), and an outbound guard that lets exactly the demo's own host:port through."""

import json
import threading
from email.utils import formatdate

import httpx
import pytest
from django.core.exceptions import ValidationError

from channels_app.models import Channel, Delivery, Event, Recipient, Subscription
from scheduler import job_kinds, services
from scheduler.management.commands import demo, up
from scheduler.models import Job, Run
from scheduler.shared import outbound
from scrapers import demo_data
from scrapers.models import Item, Source
from scrapers.sources import checks
from scrapers.sources.fetch import fetch
from tests.loopback import demo_site
from tests.loopback.server import LoopbackServer
from tests.support.commands import call, call_failing

pytestmark = pytest.mark.django_db

START = 1_796_000_000.0  # a fixed wall clock (seconds), 20 s into its minute


class Clock:
    def __init__(self, now=START):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture(autouse=True)
def _allow_list_kept(settings, monkeypatch):
    """The demo command adds its host:port to this process's allow-list: put it back after each test."""
    monkeypatch.setenv(outbound.SETTING, ",".join(settings.VIGIA_OUTBOUND_ALLOW))
    settings.VIGIA_OUTBOUND_ALLOW = list(settings.VIGIA_OUTBOUND_ALLOW)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def site(clock):
    """The demo site on a free loopback port, on the test's clock."""
    httpd = demo_site.server(demo_site.DemoSite(clock), 0)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def titles(page):
    return [line.split("<h3>")[1].split("</h3>")[0] for line in page.split('<li class="task"')[1:]]


# --- the site -------------------------------------------------------------------------------------------


def test_the_site_is_labelled_as_a_demo_and_publishes_a_task_every_minute(site, clock):
    first = httpx.get(f"{site}/tarefas")
    assert first.status_code == 200 and demo_site.LABEL in first.text
    assert "Demonstração do Vigia — site de exemplo de organizador de gincana" in first.text
    assert len(titles(first.text)) == 1  # the first task is there at once

    clock.now += 30  # the next minute starts 40 s after START
    assert len(titles(httpx.get(f"{site}/tarefas").text)) == 1
    clock.now += 15
    newer = titles(httpx.get(f"{site}/tarefas").text)
    assert len(newer) == 2 and newer[1] == titles(first.text)[0]  # newest first

    clock.now += 60 * 40
    assert len(titles(httpx.get(f"{site}/").text)) == demo_site.KEEP


def test_a_restarted_site_renumbers_nothing(clock):
    before = demo_site.DemoSite(clock)
    clock.now += 180
    after = demo_site.DemoSite(clock, started=START + 120)  # restarted two minutes in
    assert [task.id for task in after.tasks()] == [task.id for task in before.tasks()][:2]
    assert [task.title for task in after.tasks()] == [task.title for task in before.tasks()][:2]


def test_the_site_answers_conditional_requests_with_304(site, clock):
    first = httpx.get(f"{site}/tarefas")
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    same = httpx.get(f"{site}/tarefas", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    assert httpx.get(f"{site}/tarefas", headers={"If-Modified-Since": modified}).status_code == 304
    older = formatdate(START - 3600, usegmt=True)
    assert httpx.get(f"{site}/tarefas", headers={"If-Modified-Since": older}).status_code == 200

    clock.now += 60  # a new task: the old validators no longer match
    changed = httpx.get(f"{site}/tarefas", headers={"If-None-Match": etag, "If-Modified-Since": modified})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_a_task_link_opens_the_task_and_unknown_pages_are_404(site):
    task = demo_site.DemoSite(lambda: START).tasks()[0]
    assert task.title in httpx.get(f"{site}/tarefas/{task.id}").text
    assert httpx.get(f"{site}/tarefas/1").status_code == 404


# --- the demo data ---------------------------------------------------------------------------------------


def demo_source():
    return Source.objects.get(name=demo_data.NAME)


def test_the_demo_source_watches_the_site_and_announces_its_first_task(site, clock):
    out, _ = call("demo", site=site.removeprefix("http://"))
    call("demo", site=site.removeprefix("http://"))  # loading twice creates nothing new

    assert "Demo: tarefas da gincana de exemplo" in out and f"watching {site}/tarefas" in out
    source = demo_source()
    assert Source.objects.count() == 1 and source.url == f"{site}/tarefas" and source.announce_first_check
    assert source.job.kind == "check_source" and source.job.interval_seconds <= 15
    assert demo_data.CONFIG == demo_site.CONFIG  # production code cannot import the site's own copy

    checks.check_source(source)
    item = Item.objects.get(source=source)
    assert item.title == demo_site.DemoSite(clock).tasks()[0].title
    delivery = Delivery.objects.get(event__topic=source.topic)  # the first task is news at once
    assert delivery.recipient.channel.kind == "outbox"
    source.refresh_from_db()
    again = checks.check_source(source)  # the same minute: the site says 304
    assert again.status == "unchanged" and again.http_status == 304

    clock.now += 60
    checks.check_source(source)
    assert Item.objects.filter(source=source).count() == 2
    assert Delivery.objects.filter(event__topic=source.topic).count() == 2


def test_without_a_site_no_demo_source_is_made():
    call("demo")
    assert not Source.objects.exists()


def test_the_demo_source_follows_the_site_to_another_port_unless_pointed_elsewhere():
    call("demo", site="127.0.0.1:8001")
    out, _ = call("demo", site="127.0.0.1:8021")
    assert demo_source().url == "http://127.0.0.1:8021/tarefas" and "now watches" in out
    again, _ = call("demo", site="127.0.0.1:8021")
    assert "now watches" not in again

    Source.objects.filter(pk=demo_source().pk).update(url="https://gincana.example.org/tarefas")
    call("demo", site="127.0.0.1:8001")
    assert demo_source().url == "https://gincana.example.org/tarefas"


def test_a_whatsapp_channel_hears_of_the_demo_source_too():
    whatsapp = Channel.objects.create(name="whatsapp", kind="wuzapi", config={"base_url": "https://zap.example"})
    Recipient.objects.create(channel=whatsapp, address="5511900000000", active=False)
    first = Recipient.objects.create(channel=whatsapp, address="5511912345678", label="Ana")
    Recipient.objects.create(channel=whatsapp, address="5511987654321")

    out, _ = call("demo", site="127.0.0.1:8001")

    assert list(Subscription.objects.filter(topic=demo_source().topic)) == [
        Subscription.objects.get(recipient=first, topic=demo_source().topic)
    ]
    assert "WhatsApp" in out and "whatsapp" in out and "Ana" in out


def test_demo_remove_takes_the_demo_data_away_in_one_command(site):
    call("demo", site=site.removeprefix("http://"))
    source = demo_source()
    checks.check_source(source)
    mine = Job.objects.create(name="Mine", kind="noop")
    services.run_now(source.job)  # a run in its history
    assert Delivery.objects.exists()

    out, _ = call("demo", remove=True)

    assert not Source.objects.exists() and not Item.objects.exists()
    assert not Job.objects.exclude(pk=mine.pk).exists() and not Run.objects.exists()
    assert not Channel.objects.exists() and not Delivery.objects.exists()
    assert not Event.objects.filter(topic=source.topic).exists()
    assert "removed source" in out and "removed the outbox" in out and "3 job(s)" in out
    nothing, _ = call("demo", remove=True)
    assert "no source" in nothing and "no outbox" in nothing and "0 job(s)" in nothing
    call("demo", site=site.removeprefix("http://"))  # and it comes back
    assert Source.objects.count() == 1 and Channel.objects.count() == 1 and Job.objects.count() == 5


# --- the outbound guard: the demo's own host:port only ---------------------------------------------------


@pytest.fixture
def nothing_allowed(settings, monkeypatch):
    monkeypatch.setenv(outbound.SETTING, "")
    settings.VIGIA_OUTBOUND_ALLOW = []


def test_a_host_port_entry_allows_that_port_only(nothing_allowed):
    with LoopbackServer() as allowed, LoopbackServer() as other:
        allowed.respond("/", body="demo")
        other.respond("/", body="internal")
        outbound.allow(f"127.0.0.1:{allowed.port}", f"[::1]:{allowed.port}", "localhost:1")

        assert fetch(f"{allowed.url}/").text == "demo"
        with pytest.raises(outbound.Refused):
            fetch(f"{other.url}/")
        with pytest.raises(outbound.Refused):
            fetch(f"http://localhost:{allowed.port}/")  # another name for it: not what was allowed
        assert other.requests == []
    outbound.validate_url(f"http://127.0.0.1:{allowed.port}/tarefas")
    outbound.validate_url(f"http://[0:0::1]:{allowed.port}/")  # any spelling of the allowed address
    with pytest.raises(ValidationError):
        outbound.validate_url(f"http://127.0.0.1:{other.port}/")
    with pytest.raises(ValidationError):
        outbound.validate_url("http://127.0.0.1/")  # port 80
    assert outbound.host_allowed("127.0.0.1", allowed.port) and not outbound.host_allowed("127.0.0.2", allowed.port)
    assert outbound.host_allowed("localhost", 1) and not outbound.host_allowed("localhost", 2)
    # An http_request job to another port of the allowed address is refused when saved, not when it runs.
    job_kinds.clean_params("http_request", {"url": f"http://127.0.0.1:{allowed.port}/admin/login/"})
    with pytest.raises(ValidationError) as refused:
        job_kinds.clean_params("http_request", {"url": f"http://127.0.0.1:{other.port}/admin/login/"})
    assert "not a public address" in " ".join(refused.value.message_dict["params.url"])


def run_up(monkeypatch, *args):
    """`up` in this process, up to the exec into the supervisor: the children it would start."""
    started = []

    def no_exec(path, argv):
        started.append(argv)
        raise SystemExit(0)

    real = up.call_command  # the demo only: this test's database is migrated, its static files irrelevant
    monkeypatch.setattr(up, "call_command", lambda name, *a, **kw: real(name, *a, **kw) if name == "demo" else None)
    monkeypatch.setattr(up.os, "execv", no_exec)
    with pytest.raises(SystemExit):
        call("up", *args)
    return json.loads(started[0][-1])


def test_up_runs_the_demo_site_and_allows_only_its_and_the_web_servers_ports(
    nothing_allowed, monkeypatch, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    children = run_up(monkeypatch, "--addr", "127.0.0.1:8031")

    site = children["demo-site"]
    assert site[:2] == ["-m", "tests.loopback.demo_site"]
    port = int(site[-1])
    assert demo_source().url == f"http://127.0.0.1:{port}/tarefas"
    # What the children inherit: the web server's and the demo site's host:port, nothing else of loopback.
    assert up.os.environ[outbound.SETTING].split(",") == ["127.0.0.1:8031", f"127.0.0.1:{port}"]
    assert not outbound.host_allowed("127.0.0.1", 5432)


@pytest.mark.parametrize("off", [["--no-demo"], []])
def test_the_demo_can_be_turned_off(off, nothing_allowed, monkeypatch, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.VIGIA_DEMO = bool(off)  # VIGIA_DEMO=0, or the flag

    children = run_up(monkeypatch, "--addr", "127.0.0.1:8031", *off)

    assert set(children) == {"web", "worker", "scheduler"}
    assert not Source.objects.exists() and not Job.objects.exists()
    assert up.os.environ[outbound.SETTING] == ""


def test_with_the_demo_off_its_checks_of_this_host_wait_and_resume_when_it_is_back(
    nothing_allowed, monkeypatch, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    run_up(monkeypatch, "--addr", "127.0.0.1:8031")

    run_up(monkeypatch, "--addr", "127.0.0.1:8031", "--no-demo")  # the outbound guard would refuse them now

    paused = list(Job.objects.filter(enabled=False).order_by("name"))

    assert not demo_source().enabled  # the source follows its job
    assert [job.name for job in paused] == [
        "Demo: check the web server every minute",
        f"Source #{demo_source().pk}: {demo_data.NAME}",
    ]
    assert {job.paused_reason for job in paused} == {demo.DEMO_OFF}
    assert Job.objects.get(name__startswith="Demo: heartbeat").enabled  # calls nothing: it goes on

    run_up(monkeypatch, "--addr", "127.0.0.1:8031")
    assert demo_source().enabled and not Job.objects.filter(enabled=False).exists()


@pytest.mark.parametrize(
    "site", ["127.0.0.1:²", "127.0.0.1:١٢", "a\r\nb:80", "x" * 5000 + ":80", "127.0.0.1:0", "127.0.0.1:\x00", "host"]
)
def test_a_bad_demo_site_address_is_a_command_error_that_changes_nothing(site):
    message, _, _ = call_failing("demo", site=site)
    assert "is not an address with a port" in message and len(message) < 200
    assert not Job.objects.exists() and not Source.objects.exists()
