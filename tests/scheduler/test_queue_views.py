"""The live queue page, cancelling a run from it, and the worker clusters' heartbeat rows (scheduler.liveness)."""

import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage
from django_q.status import Status

from scheduler import liveness, services
from scheduler.broker import PriorityORMBroker
from scheduler.models import ClusterPresence, Lease, Run
from tests.support.factories import lead, make_job

pytestmark = pytest.mark.django_db
URL = "/queue/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def _running(job, worker="host:123", started=None):
    started = started or timezone.now() - timedelta(seconds=90)
    return Run.objects.create(
        job=job,
        scheduled_for=started,
        due_at=started,
        queued_at=started,
        started_at=started,
        heartbeat_at=timezone.now(),
        status=Run.Status.RUNNING,
        worker=worker,
    )


def test_anonymous_is_sent_to_the_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_page_shows_waiting_and_running_per_queue(viewer_client):
    waiting_job = make_job(name="Waiting <b>job</b>", queue="low")
    run = services.run_now(waiting_job)
    running_job = make_job(name="Busy job")
    busy = _running(running_job, worker="box:4242")
    lead("leader-host:1")

    response = viewer_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-trigger="every 3s"' in html
    assert '<td class="num" id="waiting-low">1</td>' in html
    assert '<td class="num" id="waiting-high">0</td>' in html
    assert f'href="/jobs/{running_job.pk}/"' in html and "box:4242" in html
    assert "90 s" in html or "91 s" in html  # how long it has run
    assert f'href="/runs/{run.pk}/"' in html
    assert "Waiting &lt;b&gt;job&lt;/b&gt;" in html  # names are escaped
    assert "leader-host:1" in html
    assert f"/queue/runs/{busy.pk}/cancel/" not in html  # a viewer gets no buttons


def test_htmx_polling_returns_only_the_fragment(viewer_client):
    services.run_now(make_job(queue="high"))
    response = viewer_client.get(URL, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="queue-live"')
    assert "<html" not in html
    assert '<td class="num" id="waiting-high">1</td>' in html


def test_oldest_waiting_age_comes_from_the_queue(viewer_client):
    services.run_now(make_job())
    OrmQ.objects.update(lock=timezone.now() - timedelta(minutes=7))
    (default,) = [q for q in liveness.queue_depths() if q.name == "default"]
    assert default.waiting == 1 and default.taken == 0 and default.oldest_age == "7 min"
    OrmQ.objects.update(lock=timezone.now() + timedelta(seconds=60))  # a cluster took it
    (default,) = [q for q in liveness.queue_depths() if q.name == "default"]
    assert (default.waiting, default.taken, default.oldest) == (0, 1, None)


def test_queries_do_not_grow_with_the_rows(staff_client, django_assert_max_num_queries):
    for i in range(30):
        services.run_now(make_job(name=f"w{i}"))
        _running(make_job(name=f"r{i}"), worker=f"h:{i}")
    for i in range(5):
        liveness.beat(uuid.uuid4().hex, f"cluster-host:{i}")
    # session, user, queue counts, queue rows sorted out, runs running or taken, completions per minute,
    # the latest bulk run (none here), waiting, clusters, lease
    with django_assert_max_num_queries(11):  # + the role's permissions (scheduler.shared.roles)
        response = staff_client.get(URL)
    assert response.content.decode().count('hx-post="/queue/runs/') == 60


def test_staff_cancels_a_queued_run(staff_client):
    run = services.run_now(make_job())
    response = staff_client.post(f"/queue/runs/{run.pk}/cancel/", **HTMX)
    assert response.status_code == 200
    assert f"Run #{run.pk} cancelled." in response.content.decode()
    assert response.content.decode().lstrip().startswith('<div id="queue-live"')
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED


def test_cancel_without_htmx_redirects_back(staff_client):
    run = services.run_now(make_job())
    response = staff_client.post(reverse("scheduler:queue_cancel", args=[run.pk]))
    assert response.status_code == 302 and response["Location"] == URL
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED


def test_cancel_asks_a_running_run_to_stop(staff_client):
    run = _running(make_job())
    response = staff_client.post(f"/queue/runs/{run.pk}/cancel/", **HTMX)
    assert "asked to stop" in response.content.decode()
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING and run.cancel_requested


def test_viewer_may_not_cancel(viewer_client):
    run = services.run_now(make_job())
    assert viewer_client.post(f"/queue/runs/{run.pk}/cancel/").status_code == 403
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED


def test_cancel_is_post_only_and_unknown_runs_are_404(staff_client):
    run = services.run_now(make_job())
    assert staff_client.get(f"/queue/runs/{run.pk}/cancel/").status_code == 405
    response = staff_client.post("/queue/runs/999999/cancel/")
    assert response.status_code == 404


# --- worker clusters' heartbeat (scheduler.liveness) ---


class _Broker(PriorityORMBroker):
    """The production broker (it mixes in liveness.HeartbeatStats)."""


def _stat(cluster_id, status="Idle", pid=777):
    stat = Status(pid=pid, cluster_id=cluster_id)
    stat.status = status
    stat.tob = timezone.now() - timedelta(minutes=3)
    return SignedPackage.dumps(stat, True)


def test_a_cluster_stat_writes_its_presence_row_throttled(settings):
    settings.VIGIA_HEARTBEAT_SECONDS = 60
    cluster_id = uuid.uuid4()
    broker = _Broker()
    broker.set_stat(f"django_q:stat:{cluster_id}", _stat(cluster_id), 3)
    (cluster,) = liveness.clusters()
    assert cluster.alive and cluster.holder.endswith(":777 [high,default,low]")
    first = ClusterPresence.objects.get(cluster_id=cluster_id.hex).renewed_at
    broker.set_stat(f"django_q:stat:{cluster_id}", _stat(cluster_id), 3)  # within the throttle: no write
    assert ClusterPresence.objects.get(cluster_id=cluster_id.hex).renewed_at == first
    broker.set_stat(f"django_q:stat:{cluster_id}", _stat(cluster_id, status="Stopped"), 3)  # at once
    (cluster,) = liveness.clusters()
    assert not cluster.alive


def test_a_silent_cluster_is_shown_gone_and_old_ones_are_forgotten(viewer_client):
    now = timezone.now()
    liveness.beat("aaaa1111", "old-host:1", now=now - timedelta(days=2))
    liveness.beat("bbbb2222", "quiet-host:2", now=now - timedelta(minutes=5))
    liveness.beat("cccc3333", "busy-host:3")  # its first beat forgets the two-day-old one
    assert not ClusterPresence.objects.filter(cluster_id="aaaa1111").exists()
    alive = {c.holder: c.alive for c in liveness.clusters()}
    assert alive == {"busy-host:3": True, "quiet-host:2": False}
    html = viewer_client.get(URL).content.decode()
    assert "busy-host:3" in html and "quiet-host:2" in html and "gone" in html


@pytest.mark.django_db(transaction=True)
def test_a_real_cluster_shows_up_alive_and_is_gone_once_killed(processes):
    # Killing the process group skips django-q2's graceful stop: the row simply stops being renewed.
    cluster = processes.qcluster(VIGIA_WORKERS=1, VIGIA_STALE_AFTER=2, VIGIA_HEARTBEAT_SECONDS=0.5)
    _wait_for(lambda: [c for c in liveness.clusters() if c.alive], cluster)
    cluster.kill()
    _wait_for(lambda: not [c for c in liveness.clusters() if c.alive], cluster)


def _wait_for(condition, process, seconds=30):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, process.output()
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_cluster_rows_out_of_the_leases_and_back():
    """Clusters' presence rows were Leases named `cluster:<id>`; the scheduler's own lease stays a Lease."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("scheduler", "0011_run_pickups")], [("scheduler", "0012_cluster_presence")]
    now = timezone.now()
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps.get_model("scheduler", "Lease")
        old.objects.create(name="scheduler", holder="web-1:10", expires_at=now, renewed_at=now, acquired_at=now)
        old.objects.create(
            name="cluster:abcd1234", holder="worker-1:77 [high]", expires_at=now, renewed_at=now, acquired_at=now
        )

        executor.loader.build_graph()
        executor.migrate(after)
        row = ClusterPresence.objects.get()
        assert (row.cluster_id, row.host, row.queues, row.started_at) == ("abcd1234", "worker-1:77", "high", now)
        assert list(Lease.objects.values_list("name", flat=True)) == ["scheduler"]

        executor.loader.build_graph()
        executor.migrate(before)
        back = executor.loader.project_state(before).apps.get_model("scheduler", "Lease")
        assert back.objects.get(name="cluster:abcd1234").holder == "worker-1:77 [high]"
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
