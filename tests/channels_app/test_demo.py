"""The demo's outbox: a newcomer sees every event as a stored message before setting up a real channel."""

import pytest

from channels_app.events import publish
from channels_app.models import Channel, Delivery
from channels_app.sending import send_delivery
from scheduler.management.commands import up
from scheduler.models import Job
from tests.support.commands import call

pytestmark = pytest.mark.django_db


def test_the_demo_outbox_stores_every_event_and_loading_twice_changes_nothing():
    out, _ = call("demo")
    call("demo")

    assert "outbox channel created" in out
    assert Channel.objects.filter(kind="outbox").count() == 1
    event = publish("source:1", {"type": "item.new", "source_name": "Organizadora", "title": "Tarefa 7"})
    delivery = Delivery.objects.get(event=event)
    assert send_delivery(delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert "Tarefa 7" in delivery.body and delivery.provider_id == "outbox"


# --- the demo's checks of Vigia itself follow the address `up` serves on ----------------------------------

SELF_CHECK = "Demo: check the web server every minute"


def self_check_url():
    return Job.objects.get(name=SELF_CHECK).params["url"]


def test_the_demo_checks_the_address_it_is_given_and_follows_a_later_one():
    call("demo", addr="127.0.0.1:8011")
    assert self_check_url() == "http://127.0.0.1:8011/admin/login/"
    mine = Job.objects.create(
        name="Mine", kind="http_request", params={"method": "GET", "url": "http://127.0.0.1:8011/admin/login/"}
    )

    out, _ = call("demo", addr="127.0.0.1:8000")
    assert self_check_url() == "http://127.0.0.1:8000/admin/login/" and "1 job(s) now check" in out
    again, _ = call("demo", addr="127.0.0.1:8000")
    assert "now check" not in again and self_check_url() == "http://127.0.0.1:8000/admin/login/"
    assert Job.objects.get(pk=mine.pk).params["url"] == "http://127.0.0.1:8011/admin/login/"  # the operator's
    call("demo", addr="0.0.0.0:8012")  # every interface: checked through the loopback
    assert self_check_url() == "http://127.0.0.1:8012/admin/login/"
    call("demo")  # the default: runserver's
    assert self_check_url() == "http://127.0.0.1:8000/admin/login/"


def test_a_demo_job_an_operator_pointed_elsewhere_is_left_alone():
    call("demo")
    job = Job.objects.get(name=SELF_CHECK)
    job.params = {**job.params, "url": "https://status.example.org/"}
    job.save()

    call("demo", addr="127.0.0.1:8011")

    assert self_check_url() == "https://status.example.org/"


def test_up_passes_its_address_to_the_demo(monkeypatch, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    real = up.call_command
    monkeypatch.setattr(up, "call_command", lambda name, *a, **kw: real(name, *a, **kw) if name == "demo" else None)

    def no_exec(*args):
        raise SystemExit(0)

    monkeypatch.setattr(up.os, "execv", no_exec)
    with pytest.raises(SystemExit):
        call("up", "--addr", "127.0.0.1:8011")
    assert self_check_url() == "http://127.0.0.1:8011/admin/login/"
    with pytest.raises(SystemExit):
        call("up", "--addr", "127.0.0.1:8000")
    assert self_check_url() == "http://127.0.0.1:8000/admin/login/"
