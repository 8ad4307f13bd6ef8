"""The overview: engine health, queues, the last 24 h of runs, what needs attention, and the force-sync buttons."""

import re
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone, translation

from channels_app.models import Channel, Delivery, Event, Recipient
from config import overview as summary
from scheduler import liveness, services
from scheduler.execution import execute_run
from scheduler.models import Job, Run
from scheduler.shared import retention
from scrapers.models import Item, MonitoredPerson, Source
from scrapers.people.services import CYCLE_JOBS
from scrapers.sources.services import sync_job
from tests.support.factories import lead, make_job

# config.views.urls (the buttons' POST targets) on top of the project's URLs, whether or not
# config/urls.py includes them yet; the first match wins, so this changes nothing once it does.
pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()  # the closed hours' run counts are cached for a minute (config.overview)


def _run(job, status, when, attempt=1):
    return Run.objects.create(job=job, scheduled_for=when, due_at=when, status=status, attempt=attempt)


def _source(name, **fields):
    source = Source.objects.create(name=name, kind="html", url="http://127.0.0.1:9/", **fields)
    sync_job(source)
    return source


def _dead_delivery(n, status=Delivery.Status.DEAD):
    channel, _ = Channel.objects.get_or_create(name="outbox", defaults={"kind": "outbox"})
    recipient, _ = Recipient.objects.get_or_create(channel=channel, address=f"r{n}@example.com")
    event = Event.objects.create(topic="t", type="x", payload={}, key=f"k{n}")
    return Delivery.objects.create(event=event, recipient=recipient, status=status, body="x", error=f"boom <{n}>")


def test_anonymous_is_sent_to_the_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_overview_shows_everything_that_needs_attention(viewer_client):
    now = timezone.now()
    lead("leader-host:9")
    liveness.beat(uuid.uuid4().hex, "worker-host:1", "high")
    job = make_job(name="Nightly")
    services.run_now(make_job(name="Queued one", queue="low"))
    for minutes, status in [(5, "succeeded"), (65, "failed"), (70, "succeeded"), (60 * 30, "failed")]:
        _run(job, status, now - timedelta(minutes=minutes))
    broken = _source("Broken <site>", broken=True, consecutive_failures=5, last_error="HTTP 500")
    healthy = _source("Healthy site")
    MonitoredPerson.objects.create(name="Ana Expiring", monitor_until=timezone.localdate() + timedelta(days=3))
    MonitoredPerson.objects.create(name="Bruno Later", monitor_until=timezone.localdate() + timedelta(days=90))
    _dead_delivery(1)
    _dead_delivery(2, Delivery.Status.SENT)
    item = Item.objects.create(source=broken, key="k1", title="New <task>", content_hash="h")

    response = viewer_client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "leader-host:9" in html and "leading" in html
    assert "worker-host:1 [high]" in html and "alive" in html
    assert '<td class="num waiting">1</td>' in html  # the low queue's waiting task
    assert '<span class="stat">4</span>' in html  # the queued run and three others; the 30 h old one is out
    assert 'class="bars"' in html and len(re.findall(r'<span class="h\d+" title=', html)) == 24
    assert f'href="/sources/{broken.pk}/">Broken &lt;site&gt;</a>' in html and "HTTP 500" in html
    assert f'href="/sources/{healthy.pk}/"' not in html
    assert "Ana Expiring" in html and "Bruno Later" not in html
    assert "Nightly" in html  # next runs
    assert "boom &lt;1&gt;" in html and "boom &lt;2&gt;" not in html
    assert "Check all people now" not in html  # viewers get no buttons
    # the team's work: the latest items (linked, with their source) and deliveries (status badges)
    assert f'<a href="/items/{item.pk}/">New &lt;task&gt;</a>' in html
    assert f'<a href="/sources/{broken.pk}/">Broken &lt;site&gt;</a> · ' in html and 'href="/items/">' in html
    assert (
        '<span class="badge sent">Sent</span>' in html
        and '<span class="badge dead">Dead (retries exhausted)</span>' in html
    )
    # ... comes before the engine; the first steps are gone once the install has something
    work, runs, engine = (html.index(f'<section id="{part}"') for part in ("work", "activity", "engine"))
    assert work < runs < engine and 'id="first-steps"' not in html  # a source, person and channel exist


def test_runs_by_hour_groups_by_hour_and_status():
    now = timezone.now()
    job = make_job()
    for minutes, status in [(1, "succeeded"), (2, "failed"), (3, "timed_out"), (60 * 5, "succeeded")]:
        _run(job, status, now - timedelta(minutes=minutes))
    _run(job, "queued", now + timedelta(hours=2))  # in the future: not counted
    activity = summary.runs_by_hour(now)
    assert len(activity.hours) == 24 and activity.total == 4 and activity.bad == 2
    assert activity.by_status[0][:2] == ("succeeded", "Succeeded") and activity.by_status[0][2] == 2
    last = activity.hours[-1]
    assert last.start <= now and (last.total, last.bad) in {
        (3, 2),
        (2, 1),
        (1, 0),
        (0, 0),
    }  # the hour may just have begun
    assert max(h.height for h in activity.hours) == 100
    busiest = max(activity.hours, key=lambda h: h.total)
    assert busiest.step == 20  # the full-height bar class
    five_ago = activity.hours[-6]  # the succeeded run five hours back, alone in its hour
    assert five_ago.title == f"{five_ago.start:%H:%M} · 1 run" and five_ago.bad_step == 0


def test_the_hour_bars_tooltips_are_in_the_operators_language():
    now = timezone.now()
    job = make_job()
    # both runs in the middle of one closed hour, whatever the minute the test starts at
    middle = now.replace(minute=30, second=0, microsecond=0) - timedelta(hours=3)
    for minutes in (1, 2):
        _run(job, "failed", middle - timedelta(minutes=minutes))
    with translation.override("pt-br"):
        hour = next(h for h in summary.runs_by_hour(now).hours if h.total)
    assert hour.title == f"{hour.start:%H:%M} · 2 execuções, 2 falharam" and hour.bad_step == 20


def test_each_live_part_refreshes_alone(viewer_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):  # session, user, lease, clusters, queues
        engine = viewer_client.get("/?part=engine", **HTMX).content.decode()
    assert engine.lstrip().startswith('<section id="engine"') and 'hx-trigger="every 5s' in engine
    assert "<html" not in engine and "never started" in engine
    work = viewer_client.get("/?part=work", **HTMX).content.decode()
    assert work.lstrip().startswith('<section id="work"') and "Latest items" in work and "<html" not in work
    activity = viewer_client.get("/?part=activity", **HTMX).content.decode()
    assert activity.lstrip().startswith('<section id="activity"') and "Runs in the last 24 h" in activity
    # an unknown part (or none) is the whole page
    assert "<html" in viewer_client.get("/?part=nope", **HTMX).content.decode()


def test_queries_do_not_grow_with_the_rows(staff_client, django_assert_max_num_queries):
    now = timezone.now()
    for i in range(30):
        job = make_job(name=f"j{i}")
        _run(job, "succeeded", now - timedelta(minutes=i * 40))
        _source(f"s{i}", broken=True)
        MonitoredPerson.objects.create(name=f"P {i}", monitor_until=timezone.localdate() + timedelta(days=1))
        _dead_delivery(i)
        liveness.beat(uuid.uuid4().hex, f"h:{i}")
    Item.objects.bulk_create(Item(source=Source.objects.first(), key=f"k{i}", content_hash="h") for i in range(30))
    # session, user, setup (one EXISTS each for sources, people, channels), latest items, latest deliveries,
    # failing sources, expiring people, dead deliveries (count, latest dead, latest failed), lease, clusters,
    # queues, runs (closed hours, this hour), next runs (operators' jobs, system jobs): 17, each bounded
    with django_assert_max_num_queries(18):  # + the role's permissions (scheduler.shared.roles)
        response = staff_client.get("/")
    assert response.status_code == 200
    with django_assert_max_num_queries(17):  # the closed hours' counts come from the cache now
        staff_client.get("/")


def test_check_all_people_queues_one_check_each_on_a_worker_and_the_answer_follows_it(staff_client):
    for name in ("Ana", "Bia", "Caio"):
        MonitoredPerson.objects.create(name=name)
    MonitoredPerson.objects.create(name="Off", active=False)
    response = staff_client.post("/sync/people/", **HTMX)
    sync = Run.objects.get(job__kind="sync_people")
    text = response.content.decode()
    assert response.status_code == 200 and "Waiting for a worker to queue the checks" in text
    assert f'hx-get="/people/sync/{sync.pk}/"' in text and f'href="/runs/{sync.pk}/"' in text
    assert not Run.objects.filter(job__kind="check_person").exists()  # nothing queued in the request
    # pressed again before a worker took it: the same run, not a second one
    staff_client.post("/sync/people/", **HTMX)
    assert Run.objects.filter(job__kind="sync_people").count() == 1

    execute_run(sync.pk)  # what a worker does
    queued = Run.objects.filter(status="queued", job__kind="check_person")
    assert sorted(queued.values_list("job__person__name", flat=True)) == ["Ana", "Bia", "Caio"]
    assert all(run.trigger == Run.Trigger.MANUAL for run in queued)
    answer = staff_client.get(f"/people/sync/{sync.pk}/", **HTMX)
    assert "Queued 3 person checks." in answer.content.decode() and "hx-get" not in answer.content.decode()
    assert answer["HX-Trigger"] == "queued"  # the queue counts refresh at once

    # again at once: the checks are still waiting, nothing is stacked on them
    staff_client.post("/sync/people/", **HTMX)
    again = Run.objects.filter(job__kind="sync_people").latest("pk")
    assert again.pk != sync.pk
    execute_run(again.pk)
    assert "Queued 0 person checks." in staff_client.get(f"/people/sync/{again.pk}/", **HTMX).content.decode()
    assert queued.count() == 3


def test_the_answer_shows_the_progress_the_run_writes_and_a_failure(staff_client):
    staff_client.post("/sync/people/", **HTMX)
    sync = Run.objects.get(job__kind="sync_people")
    Run.objects.filter(pk=sync.pk).update(status="running", result={"done": 500, "total": 2000, "queued": 480})
    text = staff_client.get(f"/people/sync/{sync.pk}/", **HTMX).content.decode()
    assert '<progress max="2000" value="500">25%</progress>' in text and "Queuing checks: 500 of 2000 people" in text
    assert "hx-get" in text
    page = staff_client.get(f"/runs/{sync.pk}/").content.decode()
    assert '<progress max="2000" value="500">' in page and "500 of 2000 done" in page
    Run.objects.filter(pk=sync.pk).update(status="failed", error="database went away")
    text = staff_client.get(f"/people/sync/{sync.pk}/", **HTMX).content.decode()
    assert "The checks were not all queued. database went away" in " ".join(text.split())
    assert "hx-get" not in text and "<progress" not in text


def test_without_htmx_check_all_people_goes_to_its_run(staff_client):
    MonitoredPerson.objects.create(name="Ana")
    response = staff_client.post("/sync/people/", follow=True)
    sync = Run.objects.get(job__kind="sync_people")
    assert response.redirect_chain == [(f"/runs/{sync.pk}/", 302)]
    assert "Queuing a check of every monitored person" in response.content.decode()


def test_only_the_sync_runs_answer_polls(staff_client, viewer_client):
    other = services.run_now(make_job())
    assert staff_client.get(f"/people/sync/{other.pk}/").status_code == 404
    assert staff_client.get("/people/sync/99999999999999999999999/").status_code == 404  # beyond a bigint
    staff_client.post("/sync/people/", **HTMX)
    sync = Run.objects.get(job__kind="sync_people")
    assert viewer_client.get(f"/people/sync/{sync.pk}/").status_code == 200  # reading it is anyone's


def test_check_all_sources_without_htmx_redirects_with_a_message(staff_client):
    _source("One")
    _source("Two")
    _source("Paused", enabled=False)
    response = staff_client.post(reverse("force_sync_sources"), follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "Queued 2 source checks." in response.content.decode()
    queued = Run.objects.filter(status="queued", job__kind="check_source")
    assert sorted(queued.values_list("job__source__name", flat=True)) == ["One", "Two"]
    assert all(run.trigger == Run.Trigger.MANUAL for run in queued)


def test_anonymous_may_not_force_sync(client):
    MonitoredPerson.objects.create(name="Ana")
    assert client.post("/sync/people/")["Location"].startswith(reverse("login"))
    assert not Run.objects.exists()


def test_viewers_may_not_force_sync_and_get_is_refused(viewer_client, staff_client):
    MonitoredPerson.objects.create(name="Ana")
    assert viewer_client.post("/sync/people/").status_code == 403
    assert viewer_client.post("/sync/sources/").status_code == 403
    assert staff_client.get("/sync/people/").status_code == 405
    assert not Run.objects.exists()


def test_staff_see_the_buttons(staff_client):
    _source("One")
    MonitoredPerson.objects.create(name="Ana")
    html = staff_client.get("/").content.decode()
    assert '<button class="primary"' not in html  # checking everything is not the page's main task
    assert 'hx-post="/sync/people/"' in html and 'hx-post="/sync/sources/"' in html
    assert "Check all sources now" in html


def test_no_scheduler_and_no_cluster_say_so(viewer_client):
    Job.objects.all().delete()
    html = viewer_client.get("/").content.decode()
    assert "never started" in html and "No worker cluster reported" in html and "No job is scheduled." in html


def test_closed_hours_are_counted_once_a_minute_and_this_hour_every_time():
    now = timezone.now()
    job = make_job()
    _run(job, "succeeded", now - timedelta(hours=3))
    assert summary.runs_by_hour(now).total == 1
    _run(job, "failed", now - timedelta(hours=3, minutes=1))  # a closed hour: seen after the cache expires
    _run(job, "failed", now)  # this hour: seen at once
    activity = summary.runs_by_hour(now)
    assert (activity.total, activity.bad) == (2, 1)
    cache.clear()
    assert summary.runs_by_hour(now).total == 3


def test_an_empty_install_offers_the_three_first_steps_and_no_check_all_button(staff_client):
    html = staff_client.get("/").content.decode()
    steps = html[html.index('id="first-steps"') :]
    for url, text in [
        ("/sources/new/", "Add your first source"),
        ("/people/new/", "Add your first person"),
        ("/channels/new/", "Add your first channel"),
    ]:
        assert f'href="{url}">{text}</a>' in steps
    assert "Check all people now" not in html and "Check all sources now" not in html
    assert 'id="work"' not in html  # nothing to show yet
    assert html.index('id="first-steps"') < html.index('<section id="activity"')


def test_the_steps_left_remain_until_all_three_are_done(staff_client):
    _source("One")
    html = staff_client.get("/").content.decode()
    steps = html[html.index('id="first-steps"') : html.index('<section id="work"')]
    assert 'href="/people/new/"' in steps and 'href="/channels/new/"' in steps and 'href="/sources/new/"' not in steps
    assert "Check all sources now" in html and "Check all people now" not in html
    MonitoredPerson.objects.create(name="Ana")
    Channel.objects.create(name="outbox", kind="outbox")
    html = staff_client.get("/").content.decode()
    assert 'id="first-steps"' not in html and 'id="work"' in html and "Check all people now" in html


def test_system_jobs_are_apart_under_their_translated_names_after_the_operators_jobs(staff_client):
    services.ensure_jobs([retention.PRUNE_JOB, *CYCLE_JOBS])
    mine = make_job(name="Gincana <tarefas>", next_run_at=timezone.now() + timedelta(days=2))
    html = staff_client.get("/").content.decode()
    operators = html.index('id="next-operators"')
    system = html[html.index('id="next-system"') :]
    assert operators < html.index('id="next-system"')
    assert f'<a href="/jobs/{mine.pk}/">Gincana &lt;tarefas&gt;</a>' in html[operators : html.index('id="next-system"')]
    assert "System jobs" in system and "Prune history" in system and "Check monitored people in DJEN" in system
    prune = Job.objects.get(external_service="vigia", external_key="prune_history")
    assert prune.name == "Prune history"  # the stored name is unchanged

    staff_client.cookies["django_language"] = "pt-br"
    html = staff_client.get("/").content.decode()
    system = html[html.index('id="next-system"') :]
    assert f'<a href="/jobs/{prune.pk}/">Limpar histórico</a>' in system
    assert "Próximas execuções" in html or "Next runs" in html


def test_display_name_is_the_jobs_own_name_unless_a_system_job_declared_one():
    from scheduler import system_jobs

    assert system_jobs.display_name(make_job(name="Mine")) == "Mine"
    renamed = Job(name="Renamed by an operator", external_service="vigia", external_key="prune_history")
    with translation.override("pt-br"):
        assert str(system_jobs.display_name(renamed)) == "Limpar histórico"
    other = Job(name="Theirs", external_service="crm", external_key="prune_history")
    assert system_jobs.display_name(other) == "Theirs"
