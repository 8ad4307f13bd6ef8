"""A message template that compiles but fails when rendered (an {% include %} of a file that does not exist,
a filter that raises on some event) never fails the work that produced the event: the check stores its
items, the run's alert goes out, and the recipient gets the built-in wording with the reason recorded on the
delivery for the operator."""

import pytest
from django.urls import reverse

from channels_app import sending
from channels_app.events import publish
from channels_app.forms import MessageTemplateForm
from channels_app.models import Delivery, MessageTemplate
from scheduler import services
from scheduler.execution import execute_run
from scrapers.models import Item
from tests.channels_app.support import item_event, recipient, wuzapi_channel
from tests.loopback import organizer
from tests.loopback.server import LoopbackServer
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db

BROKEN = '{% include "nope.txt" %}'


@pytest.fixture
def site():
    with LoopbackServer() as server:
        yield server


def broken_template(name):
    # Stored directly, as a template saved before the save-time check existed would be.
    return MessageTemplate.objects.create(name=name, subject="", body=BROKEN)


def send_all():
    for pk in Delivery.objects.order_by("pk").values_list("pk", flat=True):
        sending.send_delivery(pk)


def test_a_source_check_with_a_broken_item_new_template_stores_its_items_and_the_recipient_gets_the_fallback(
    site, wuzapi
):
    broken_template("item.new")
    site.respond("/tarefas", body=organizer.page((1, "Tarefa 1", "Traga um guarda-chuva"), (2, "Tarefa 2", "Cante")))
    source = organizer.make_source(site.url + "/tarefas", announce_first_check=True)
    recipient(wuzapi_channel(wuzapi), topics=[source.topic])

    assert execute_run(services.run_now(source.job).id) == "succeeded"

    source.refresh_from_db()
    assert source.last_checked_at is not None and source.last_error == ""
    assert sorted(Item.objects.filter(source=source).values_list("title", flat=True)) == ["Tarefa 1", "Tarefa 2"]
    deliveries = list(Delivery.objects.order_by("pk"))
    assert len(deliveries) == 2
    for delivery in deliveries:
        assert "TemplateDoesNotExist: nope.txt" in delivery.template_error
    send_all()
    assert [message.body.splitlines()[1] for message in wuzapi.messages.values()] == ["*Tarefa 1*", "*Tarefa 2*"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    # Once each: the fallback is the delivery itself, not a second message.
    assert len(wuzapi.requests) == 2


def test_a_job_failing_with_a_broken_job_failed_template_still_alerts(wuzapi):
    broken_template("job.failed")
    recipient(wuzapi_channel(wuzapi), topics=["job:*:failed"])
    job = make_job(name="Relatório diário", kind="test_fail", params={"failures": 5, "permanent": True})

    assert execute_run(services.run_now(job).id) == "failed"

    [delivery] = Delivery.objects.all()
    assert "TemplateDoesNotExist: nope.txt" in delivery.template_error
    send_all()
    [message] = wuzapi.messages.values()
    assert "Relatório diário" in message.body and "planned failure 1" in message.body


def test_a_template_failing_only_for_some_events_sends_the_fallback_and_the_deliveries_page_says_why(
    wuzapi, staff_client
):
    # Passes the save-time trial (the sample's title is "Edital nº 12/2026"), fails on this event.
    form = MessageTemplateForm(
        data={"name": "item.new", "subject": "", "body": '{% if "Tarefa" in title %}{% include "x.txt" %}{% endif %}'}
    )
    assert form.is_valid(), form.errors
    form.save()
    recipient(wuzapi_channel(wuzapi), topics=["source:1"])
    publish("source:1", item_event(title="Tarefa <3 & mais"))

    [delivery] = Delivery.objects.all()
    assert delivery.template_error == "TemplateDoesNotExist: x.txt"
    assert sending.send_delivery(delivery.pk) == "sent"
    [message] = wuzapi.messages.values()
    assert message.body.splitlines()[:2] == ["🆕 Prefeitura", "*Tarefa <3 & mais*"]  # plain text, unescaped

    listing = staff_client.get(reverse("channels_app:deliveries")).content.decode()
    assert "Template not used: TemplateDoesNotExist: x.txt" in listing
    page = staff_client.get(reverse("channels_app:delivery", args=[delivery.pk])).content.decode()
    assert "Template not used" in page and "TemplateDoesNotExist: x.txt" in page


def test_an_event_whose_fields_not_even_the_built_in_wording_can_read_goes_out_as_a_plain_listing(wuzapi):
    recipient(wuzapi_channel(wuzapi), topics=["people:expired"])
    publish("people:expired", {"type": "people.expired", "count": 1, "people": 7})  # not a list

    [delivery] = Delivery.objects.all()
    assert delivery.template_error.startswith("TypeError:")
    assert delivery.body.splitlines() == ["type: people.expired", "topic: people:expired", "count: 1", "people: 7"]


# --- refused when saved ----------------------------------------------------------------------------------
LOOPS = '{% for a in "x"|rjust:200 %}{% for b in "x"|rjust:200 %}.{% endfor %}{% endfor %}'
REFUSED = [
    ("body", BROKEN, "Cannot render a sample item.new event: TemplateDoesNotExist: nope.txt"),
    ("subject", '{{ title|date:"Y" }}{% include "a.txt" %}', "TemplateDoesNotExist: a.txt"),
    ("body", "{{ title|add:people }}", "VariableDoesNotExist: Failed lookup for key [people]"),  # not item.new's
    ("body", "{{ people }}{{ title|truncatewords:2 }}{% widthratio 1 0 5 %}", None),  # fine: missing is ''
    ("body", LOOPS, "Too costly: more than 20,000 loop steps"),
    ("body", "{{ title|rjust:60000 }}", "Too costly: 60,000 characters, more than 50,000"),
]


@pytest.mark.parametrize(("field", "source", "error"), REFUSED)
def test_a_template_that_compiles_but_cannot_render_a_sample_event_is_refused_when_saved(field, source, error, db):
    data = {"name": "item.new", "subject": "", "body": "{{ title }}", field: source}
    form = MessageTemplateForm(data=data)

    if error is None:
        assert form.is_valid(), form.errors
        return
    assert not form.is_valid()
    assert error in form.errors[field][0] and list(form.errors) == [field]
    assert not MessageTemplate.objects.exists()


def test_the_dashboard_and_the_admin_refuse_it_with_the_reason_and_keep_the_stored_template(staff_client, admin_client):
    stored = MessageTemplate.objects.create(name="job.failed", body="{{ job_name }}")
    data = {"name": "job.failed", "subject": "", "body": BROKEN}

    page = staff_client.post(reverse("channels_app:template", args=[stored.pk]), data).content.decode()
    assert "TemplateDoesNotExist: nope.txt" in page and 'class="field invalid"' in page
    admin = admin_client.post(reverse("admin:channels_app_messagetemplate_change", args=[stored.pk]), data)
    assert "TemplateDoesNotExist: nope.txt" in admin.context["adminform"].form.errors["body"][0]
    stored.refresh_from_db()
    assert stored.body == "{{ job_name }}"


def test_an_api_template_is_not_rendered_by_django_so_it_is_not_tried(db):
    form = MessageTemplateForm(data={"name": "lembrete", "subject": "", "body": 'Oi {{1}} {% include "x" %}'})
    assert form.is_valid(), form.errors
