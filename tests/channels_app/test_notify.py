"""Notifications where the thing is: topics named in words and checked against the objects that exist, the
recipient page's subscriptions by name, and the Notify panel on a source's, a person's and a job's page."""

import pytest
from django.urls import reverse

from channels_app import topics
from channels_app.events import publish
from channels_app.models import Delivery, Recipient, Subscription
from scrapers.models import MonitoredPerson, Source
from tests.channels_app.test_channel_views import make_channel
from tests.support.factories import make_job

HTMX = {"HTTP_HX_REQUEST": "true"}
NOTIFY = reverse("channels_app:notify")
ADD_SUBSCRIPTION = reverse("admin:channels_app_subscription_add")


@pytest.fixture
def source(db):
    return Source.objects.create(name="Gincana 2026", kind="html", url="https://example.org/gincana")


@pytest.fixture
def group(db):
    return Recipient.objects.create(channel=make_channel(), address="120363000000000000@g.us", label="Grupo Gincana")


def source_page(client, source):
    return client.get(reverse("scrapers:source", args=[source.pk])).content.decode()


def panel_of(body):
    start = body.index('<section class="card notify" id="notify"')
    return body[start : body.index("</section>", start)]


# --- the registry ----------------------------------------------------------------------------------------


def test_topics_are_described_in_words_in_one_query_per_family(source, django_assert_num_queries):
    job = make_job(name="Nightly export")
    person = MonitoredPerson.objects.create(name="Ana Souza")
    batch = [source.topic, "source:999", person.topic, f"job:{job.pk}:failed", "*", "source:*", "api:x"]

    with django_assert_num_queries(3):
        described = topics.describe(batch)

    assert described == {
        source.topic: ("Source: Gincana 2026", reverse("scrapers:source", args=[source.pk])),
        "source:999": ("Source #999 (deleted)", None),
        person.topic: ("Person: Ana Souza", reverse("scrapers:person", args=[person.pk])),
        f"job:{job.pk}:failed": ("Job: Nightly export", reverse("scheduler:job", args=[job.pk])),
        "*": ("Everything", None),
        "source:*": ("Any source", None),
        "api:x": ("api:x", None),
    }
    assert topics.in_words(["item.new", "source.broken", "source.still_broken", "source.recovered"]) == (
        "New item, Source broken or recovered"
    )
    assert topics.in_words([]) == "all events"


# --- validation: the recipient page's form and the admin -------------------------------------------------


def test_an_unknown_object_is_a_field_error_on_the_recipient_page(staff_client, group):
    response = staff_client.post(
        reverse("channels_app:subscription_new", args=[group.pk]), {"topic": "source:99"}, **HTMX
    )

    assert response.context["subscription_form"].errors == {"topic": ["Source #99 does not exist."]}
    assert "Source #99 does not exist." in response.content.decode()
    assert not Subscription.objects.exists()


def test_an_unknown_object_is_a_field_error_in_the_admin(admin_client, group):
    data = {"recipient": group.pk, "topic": "person:99", "_save": "Save"}

    response = admin_client.post(ADD_SUBSCRIPTION, data)

    assert response.context["adminform"].form.errors == {"topic": ["Person #99 does not exist."]}
    assert not Subscription.objects.exists()


def test_an_event_the_topic_never_publishes_is_a_field_error(admin_client, group, source):
    data = {"recipient": group.pk, "topic": source.topic, "event_types": ["publication.new"], "_save": "Save"}

    response = admin_client.post(ADD_SUBSCRIPTION, data)

    assert response.context["adminform"].form.errors == {
        "event_types": ["Never published on Source: Gincana 2026: New publication."]
    }
    for pattern in ("*", "source:*"):  # a pattern matching everything accepts every event of what it matches
        assert (
            admin_client.post(ADD_SUBSCRIPTION, {**data, "topic": pattern, "event_types": ["item.new"]}).status_code
            == 302
        )


# --- the recipient page ----------------------------------------------------------------------------------


def test_the_recipient_page_lists_subscriptions_by_name_with_links_and_events_in_words(staff_client, group, source):
    Subscription.objects.create(recipient=group, topic=source.topic, event_types=["item.new", "item.updated"])
    Subscription.objects.create(recipient=group, topic="people:expired")

    body = staff_client.get(reverse("channels_app:recipient", args=[group.pk])).content.decode()
    listed = body[body.index('id="subscriptions"') : body.index('id="subscription-form"')]

    assert f'<a href="{reverse("scrapers:source", args=[source.pk])}">Source: Gincana 2026</a>' in listed
    assert "New item, Changed item" in listed and "Monitoring expired" in listed and "all events" in listed
    assert "item.new" not in listed and source.topic not in listed
    form = body[body.index('id="subscription-form"') :]
    assert '<optgroup label="Patterns">' in form and '<option value="*">Everything</option>' in form
    assert f'<option value="{source.topic}">Gincana 2026</option>' in form
    assert 'type="checkbox" name="event_types" value="item.new"' in form and "Changed item" in form


def test_the_recipient_page_subscribes_to_a_chosen_object(staff_client, group, source):
    data = {"topic": source.topic, "event_types": ["source.broken,source.still_broken,source.recovered"]}

    response = staff_client.post(reverse("channels_app:subscription_new", args=[group.pk]), data, **HTMX)

    assert response["HX-Redirect"] == reverse("channels_app:recipient", args=[group.pk])
    assert Subscription.objects.get().event_types == ["source.broken", "source.still_broken", "source.recovered"]


# --- the Notify panel on a source's page -----------------------------------------------------------------


def test_the_source_page_panel_adds_a_subscription_that_delivers(staff_client, group, source):
    assert "No one is notified about this yet." in panel_of(source_page(staff_client, source))

    data = {"topic": source.topic, "recipient": group.pk, "event_types": ["item.new", "item.updated"]}
    response = staff_client.post(NOTIFY, data, **HTMX)

    body = response.content.decode()
    assert response.status_code == 200 and body.strip().startswith('<section class="card notify" id="notify"')
    assert "New item, Changed item" in body and "Grupo Gincana on WhatsApp will be notified." in body
    subscription = Subscription.objects.get()
    assert (subscription.recipient, subscription.topic, subscription.event_types) == (
        group,
        source.topic,
        ["item.new", "item.updated"],
    )
    assert "Grupo Gincana" in panel_of(source_page(staff_client, source))

    publish(source.topic, {"type": "item.new", "source": source.pk, "source_name": source.name, "title": "Tarefa 1"})
    publish(source.topic, {"type": "source.broken", "source": source.pk, "source_name": source.name, "error": "x"})
    assert list(Delivery.objects.values_list("recipient", "event__type")) == [(group.pk, "item.new")]


def test_the_panels_form_offers_recipients_by_channel_and_the_sources_events_all_ticked(staff_client, group, source):
    Recipient.objects.create(channel=make_channel("E-mail off", enabled=False), address="ops@example.org")

    panel = panel_of(source_page(staff_client, source))

    assert '<optgroup label="WhatsApp">' in panel and "Grupo Gincana</option>" in panel
    assert '<optgroup label="Inactive, or on a disabled channel">' in panel and "ops@example.org · E-mail off" in panel
    assert panel.index("Grupo Gincana") < panel.index("ops@example.org")  # the active ones first
    for value, words in [("item.new", "New item"), ("item.updated", "Changed item")]:
        assert f'value="{value}" id="notify-event_types_' in panel and words in panel
    broken = "source.broken,source.still_broken,source.recovered"  # the alert, its reminders, its recovery
    assert f'value="{broken}"' in panel and "Source broken or recovered" in panel
    assert panel.count("checked") == 3 and "New publication" not in panel and "Run failed" not in panel
    assert f'hx-post="{NOTIFY}" hx-target="#notify" hx-swap="outerHTML"' in panel
    assert "csrfmiddlewaretoken" in panel


def test_all_events_ticked_is_stored_as_all_events(staff_client, group, source):
    every = ["item.new", "item.updated", "source.broken,source.still_broken,source.recovered"]

    staff_client.post(NOTIFY, {"topic": source.topic, "recipient": group.pk, "event_types": every}, **HTMX)

    assert Subscription.objects.get().event_types == []
    assert "all events" in panel_of(source_page(staff_client, source))


def test_subscribing_again_updates_the_events(staff_client, group, source):
    Subscription.objects.create(recipient=group, topic=source.topic, event_types=["item.new"])

    data = {
        "topic": source.topic,
        "recipient": group.pk,
        "event_types": ["source.broken,source.still_broken,source.recovered"],
    }
    response = staff_client.post(NOTIFY, data, **HTMX)

    assert response.status_code == 200 and "error" not in panel_of(response.content.decode())
    assert list(Subscription.objects.values_list("topic", "event_types")) == [
        (source.topic, ["source.broken", "source.still_broken", "source.recovered"])
    ]


def test_no_event_ticked_and_an_event_never_published_are_errors(staff_client, group, source):
    base = {"topic": source.topic, "recipient": group.pk}

    nothing = staff_client.post(NOTIFY, base, **HTMX).content.decode()
    wrong = staff_client.post(NOTIFY, {**base, "event_types": ["publication.new"]}, **HTMX).content.decode()

    assert "Tick at least one event." in nothing
    assert "Never published on Source: Gincana 2026: New publication." in wrong
    assert not Subscription.objects.exists()


def test_a_subscription_is_removed_from_the_panel(staff_client, group, source):
    kept = Subscription.objects.create(recipient=group, topic="source:*")
    removed = Subscription.objects.create(recipient=group, topic=source.topic)

    panel = panel_of(source_page(staff_client, source))
    assert f'name="remove" value="{removed.pk}"' in panel and "data-confirm=" in panel
    assert f'name="remove" value="{kept.pk}"' not in panel  # a pattern's subscription is removed on its own page

    response = staff_client.post(NOTIFY, {"topic": source.topic, "remove": kept.pk}, **HTMX)  # not this topic's
    assert response.status_code == 200 and Subscription.objects.count() == 2
    response = staff_client.post(NOTIFY, {"topic": source.topic, "remove": removed.pk}, **HTMX)
    assert "Subscription removed." in response.content.decode()
    assert list(Subscription.objects.all()) == [kept]


def test_without_js_the_panel_redirects_back_to_the_page(staff_client, group, source):
    data = {"topic": source.topic, "recipient": group.pk, "event_types": ["item.new"]}

    response = staff_client.post(NOTIFY, data)

    assert response.status_code == 302
    assert response.url == reverse("scrapers:source", args=[source.pk]) + "#notify"
    assert Subscription.objects.get().event_types == ["item.new"]
    response = staff_client.post(NOTIFY, {**data, "event_types": ["publication.new"]}, follow=True)
    assert "Never published on Source: Gincana 2026: New publication." in response.content.decode()


def test_pattern_subscriptions_covering_the_source_are_shown_read_only(staff_client, group, source):
    other = Recipient.objects.create(channel=group.channel, address="5511900000000", label="Plantão")
    Subscription.objects.create(recipient=group, topic="source:*")
    Subscription.objects.create(recipient=other, topic="sources:broken")
    Subscription.objects.create(recipient=other, topic="*", event_types=["publication.new"])  # hears nothing here

    panel = panel_of(source_page(staff_client, source))

    assert "via Any source" in panel and "via Any source broken or recovered" in panel
    assert "via Everything" not in panel
    row = panel[panel.index("via Any source broken") - 400 : panel.index("via Any source broken")]
    assert "Plantão" in row and "Source broken or recovered" in row
    assert "remove" not in panel.split('<tr class="via">', 1)[1].split("</table>")[0]


def test_with_no_recipients_the_panel_links_to_the_channels_page(staff_client, source):
    panel = panel_of(source_page(staff_client, source))

    assert "No recipients yet." in panel and f'href="{reverse("channels_app:channels")}"' in panel
    assert "<select" not in panel


# --- a person's and a job's page -------------------------------------------------------------------------


def test_the_person_page_panel(staff_client, group):
    person = MonitoredPerson.objects.create(name="Ana Souza")
    page = reverse("scrapers:person", args=[person.pk])
    assert "New publication" in panel_of(staff_client.get(page).content.decode())

    every = ["publication.new", "person.failing,person.still_failing,person.recovered"]
    data = {"topic": person.topic, "recipient": group.pk, "event_types": every}
    panel = staff_client.post(NOTIFY, data, **HTMX).content.decode()

    assert "Grupo Gincana" in panel and "all events" in panel
    assert Subscription.objects.get().topic == person.topic
    assert "Grupo Gincana" in panel_of(staff_client.get(page).content.decode())


def test_the_job_page_panel(staff_client, group):
    job = make_job(name="Nightly export")
    Subscription.objects.create(recipient=group, topic="job:*:failed")
    page = reverse("scheduler:job", args=[job.pk])

    panel = panel_of(staff_client.get(page).content.decode())
    assert "Run failed" in panel and "via Any job failing" in panel

    data = {"topic": f"job:{job.pk}:failed", "recipient": group.pk, "event_types": ["job.failed"]}
    staff_client.post(NOTIFY, data, **HTMX)
    assert Subscription.objects.filter(topic=f"job:{job.pk}:failed", recipient=group).exists()
    assert reverse("channels_app:recipient", args=[group.pk]) in panel_of(staff_client.get(page).content.decode())


# --- who may do what -------------------------------------------------------------------------------------


def test_a_viewer_sees_who_is_notified_but_no_form_and_cannot_post(viewer_client, group, source):
    subscription = Subscription.objects.create(recipient=group, topic=source.topic)

    panel = panel_of(source_page(viewer_client, source))

    assert "Grupo Gincana" in panel and "<form" not in panel
    data = {"topic": source.topic, "recipient": group.pk, "event_types": ["item.new"]}
    assert viewer_client.post(NOTIFY, data, **HTMX).status_code == 403
    assert viewer_client.post(NOTIFY, {"topic": source.topic, "remove": subscription.pk}).status_code == 403
    assert list(Subscription.objects.values_list("event_types", flat=True)) == [[]]


def test_the_panels_view_needs_a_login_a_post_and_an_objects_topic(client, staff_client, group, source):
    data = {"topic": source.topic, "recipient": group.pk, "event_types": ["item.new"]}
    assert client.post(NOTIFY, data).status_code == 302  # to the login page
    assert staff_client.get(NOTIFY).status_code == 405
    assert staff_client.post(NOTIFY, {**data, "topic": "*"}).status_code == 404
    assert not Subscription.objects.exists()
