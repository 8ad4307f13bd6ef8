"""A failure policy on real processes: a scheduler fires a job every second, a django-q2 cluster runs it, and the
alerts reach the loopback Wuzapi: five failures with N=3 give exactly one alert, then one recovery."""

import time

import pytest

from channels_app.models import Event, Watch
from scheduler.models import Run
from tests.channels_app.support import process_env, recipient
from tests.channels_app.test_delivery_processes import cluster
from tests.support.factories import make_job
from tests.support.processes import wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_five_failures_with_n_3_give_one_alert_and_one_recovery_on_real_processes(processes, wuzapi, channel):
    recipient(channel, topics=["job:*:failed"])
    job = make_job(name="Relatório", kind="test_fail_runs", params={"runs": 5}, interval_seconds=1, max_attempts=1)
    Watch.objects.create(subject=f"job:{job.pk}", alert_after=3)
    processes.scheduler(**process_env())
    cluster(processes, "qcluster", VIGIA_WORKERS=2, **process_env())

    wuzapi.wait_for_messages(2, timeout=60)
    alert, recovery = sorted(wuzapi.messages.values(), key=lambda arrival: arrival.id)
    succeeded = Run.objects.filter(job=job, status="succeeded")
    wait_for(lambda: succeeded.count() >= 3, 20, message="three more successful runs")
    time.sleep(1.5)  # nothing else may follow

    assert Run.objects.filter(job=job, status="failed").count() == 5
    assert list(Event.objects.order_by("pk").values_list("type", flat=True)) == ["job.failed", "job.recovered"]
    assert len(wuzapi.messages) == 2
    assert "Relatório" in alert.body and "falhou" in alert.body and "planned failure 3" in alert.body
    assert "voltou a funcionar" in recovery.body
