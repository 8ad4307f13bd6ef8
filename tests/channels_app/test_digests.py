"""Digests (channels_app.digests): one message every N hours or daily at a time on the recipient's clock,
listing what happened since the last one, grouped by person or source; nothing sent for an empty window;
keyed by its period, so a repeated sweep, a second process or a restart never sends it twice."""

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import close_old_connections, connection, transaction
from django.urls import reverse
from django.utils import timezone

from channels_app import digests, sending
from channels_app.events import publish
from channels_app.forms import NotifyForm, SubscriptionForm
from channels_app.message_filters import local_date
from channels_app.models import Channel, Delivery, Event, Recipient, Subscription
from scrapers.models import MonitoredPerson, Source

HTMX = {"HTTP_HX_REQUEST": "true"}
SP, NY = "America/Sao_Paulo", "America/New_York"


def at(*args):
    return datetime(*args, tzinfo=UTC)


# --- periods: pure, on unsaved rows -------------------------------------------------------------------------


def plan(zone, **fields):
    return Subscription(recipient=Recipient(time_zone=zone), topic="person:1", created_at=at(2026, 1, 1), **fields)


def boundaries(subscription, start, end, step=timedelta(minutes=5)):
    """The boundaries a sweep every `step` from `start` to `end` makes digests for, in order."""
    subscription.digest_through, found, now = start, [], start
    while now <= end:
        period = digests.due_periods(subscription, now)
        if period is not None:
            assert period.since == subscription.digest_through and period.through <= now
            found.append(period.through)
            subscription.digest_through = period.through
        now += step
    return found


def test_every_5_hours_restarts_at_midnight_in_sao_paulo():
    every5 = plan(SP, digest="hours", digest_hours=5)

    found = boundaries(every5, at(2026, 12, 7, 3, 0), at(2026, 12, 8, 3, 0))  # a local day (UTC-3)

    local = [moment.astimezone(digests.zone_of(every5.recipient)).strftime("%d %H:%M") for moment in found]
    assert local == ["07 05:00", "07 10:00", "07 15:00", "07 20:00", "08 00:00"]
    assert digests.latest_boundary(every5, at(2026, 12, 8, 2, 59)) == at(2026, 12, 7, 23, 0)  # 20:00 local


def test_daily_in_sao_paulo_and_the_window_starts_where_the_last_one_ended():
    daily = plan(SP, digest="daily", digest_at=time(8, 0))

    assert digests.latest_boundary(daily, at(2026, 12, 7, 10, 59)) == at(2026, 12, 6, 11, 0)
    assert digests.latest_boundary(daily, at(2026, 12, 7, 11, 0)) == at(2026, 12, 7, 11, 0)
    daily.digest_through = at(2026, 12, 6, 11, 0)
    assert digests.due_periods(daily, at(2026, 12, 7, 10, 59)) is None
    assert digests.due_periods(daily, at(2026, 12, 7, 12, 0)) == digests.Period(
        at(2026, 12, 6, 11, 0), at(2026, 12, 7, 11, 0)
    )
    # Days missed (nothing ran): one window up to the latest boundary.
    assert digests.due_periods(daily, at(2026, 12, 10, 12, 0)) == digests.Period(
        at(2026, 12, 6, 11, 0), at(2026, 12, 10, 11, 0)
    )
    # Never swept: from when the subscription began.
    daily.digest_through, daily.created_at = None, at(2026, 12, 7, 10, 50)
    assert digests.due_periods(daily, at(2026, 12, 7, 11, 5)).since == at(2026, 12, 7, 10, 50)


def test_new_york_spring_forward_a_skipped_time_fires_once_right_after_the_jump():
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:30 does not exist that day.
    daily = plan(NY, digest="daily", digest_at=time(2, 30))
    found = boundaries(daily, at(2026, 3, 7, 12), at(2026, 3, 9, 12))
    assert found == [at(2026, 3, 8, 7, 0), at(2026, 3, 9, 6, 30)]  # right after the jump; then 02:30 EDT

    hourly = plan(NY, digest="hours", digest_hours=1)
    found = boundaries(hourly, at(2026, 3, 8, 5, 0), at(2026, 3, 9, 4, 0))  # the local day: 23 hours long
    assert len(found) == 23 and len(set(found)) == 23
    assert at(2026, 3, 8, 7, 0) in found and found[1] - found[0] == timedelta(hours=1)


def test_new_york_fall_back_a_repeated_time_fires_once():
    # 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice (05:30 and 06:30 UTC).
    daily = plan(NY, digest="daily", digest_at=time(1, 30))
    found = boundaries(daily, at(2026, 10, 31, 12), at(2026, 11, 2, 12))
    assert found == [at(2026, 11, 1, 5, 30), at(2026, 11, 2, 6, 30)]

    hourly = plan(NY, digest="hours", digest_hours=1)
    found = boundaries(hourly, at(2026, 11, 1, 4, 0), at(2026, 11, 2, 5, 0))  # the local day: 25 hours long
    assert len(found) == 24  # each wall hour once: 01:00 on its first pass, then a two-hour window to 02:00 EST
    assert at(2026, 11, 1, 6, 0) not in found and at(2026, 11, 1, 7, 0) in found

    every6 = plan(NY, digest="hours", digest_hours=6)
    found = boundaries(every6, at(2026, 11, 1, 3, 0), at(2026, 11, 2, 5, 0))
    assert found == [at(2026, 11, 1, 4, 0), at(2026, 11, 1, 11, 0), at(2026, 11, 1, 17, 0), at(2026, 11, 1, 23, 0)] + [
        at(2026, 11, 2, 5, 0)
    ]


def test_periods_longer_than_a_day_count_from_a_monday_midnight():
    weekly = plan(SP, digest="hours", digest_hours=168)
    assert digests.latest_boundary(weekly, at(2026, 12, 10, 12)) == at(2026, 12, 7, 3, 0)  # Monday 00:00 local
    every2days = plan(SP, digest="hours", digest_hours=48)
    first = digests.latest_boundary(every2days, at(2026, 12, 10, 12))
    assert first.astimezone(digests.zone_of(every2days.recipient)).time() == time(0, 0)
    assert digests.latest_boundary(every2days, first - timedelta(seconds=1)) == first - timedelta(hours=48)


def test_an_immediate_subscription_or_an_incomplete_one_has_no_period():
    assert digests.due_periods(plan(SP), at(2026, 12, 7)) is None
    assert digests.due_periods(plan(SP, digest="daily"), at(2026, 12, 7)) is None
    assert digests.due_periods(plan(SP, digest="hours", digest_hours=0), at(2026, 12, 7)) is None


# --- the sweep --------------------------------------------------------------------------------------------------


@pytest.fixture
def outbox(db):
    return Channel.objects.create(name="avisos", kind="outbox")


@pytest.fixture
def people(db):
    return [MonitoredPerson.objects.create(name=name) for name in ("Ana Souza", "Bruno Lima", "Carla Dias")]


def office(channel, topics_, zone=SP, address="escritorio", **fields):
    """A recipient with a daily 08:00 digest of each topic, subscribed a minute ago."""
    fields = {"digest": "daily", "digest_at": time(8, 0), **fields}
    person = Recipient.objects.create(channel=channel, address=address, label="Escritório", time_zone=zone)
    for topic in topics_:
        Subscription.objects.create(
            recipient=person, topic=topic, created_at=timezone.now() - timedelta(minutes=1), **fields
        )
    return person


def publication(person, index):
    return publish(
        person.topic,
        {
            "type": "publication.new",
            "person": person.pk,
            "person_name": person.name,
            "publication": index,
            "date": "2026-12-04",
            "tribunal": "TJSP",
            "process": f"0001234-{index:02d}.2026.8.26.0100",
            "type_label": "Intimação",
            "organ": "1ª Vara Cível",
            "link": "https://comunica.pje.jus.br/",
            "text": "Fica a parte intimada.",
        },
        key=f"publication.new:{person.pk}:{index}",
    )


def next_sweep(recipient):
    """(boundary, a sweep time after it) of the recipient's next digest after now."""
    subscription = recipient.subscriptions.first()
    boundary = digests.latest_boundary(subscription, timezone.now() + timedelta(days=1))
    return boundary, boundary + digests.SETTLE + timedelta(seconds=1)


def digest_deliveries(recipient):
    return Delivery.objects.filter(recipient=recipient, event__type="digest")


def test_forty_publications_are_one_digest_grouped_by_person_while_immediate_subscribers_get_each(outbox, people):
    firm = office(outbox, [person.topic for person in people])
    colleague = Recipient.objects.create(channel=outbox, address="colega")
    Subscription.objects.create(recipient=colleague, topic=people[0].topic)  # at once
    for index in range(40):
        publication(people[index % 3], index)

    assert not Delivery.objects.filter(recipient=firm).exists()  # nothing at once for a digest subscriber
    assert Delivery.objects.filter(recipient=colleague).count() == 14  # every one of Ana's, at once
    boundary, later = next_sweep(firm)

    assert digests.sweep(now=boundary - timedelta(minutes=1)) == {"sent": 0, "empty": 0, "busy": 0, "done": 0}
    assert digests.sweep(now=later) == {"sent": 1, "empty": 0, "busy": 0, "done": 0}

    delivery = digest_deliveries(firm).get()
    assert Delivery.objects.filter(recipient=firm).count() == 1
    assert delivery.subject == "Vigia: digest — 40 updates"
    lines = delivery.body.splitlines()
    assert lines[0] == "📋 *Vigia: digest — 40 updates*"
    assert [line for line in lines if line.startswith("*")] == [
        "*Person: Ana Souza* (14)",
        "*Person: Bruno Lima* (13)",
        "*Person: Carla Dias* (13)",
    ]
    written = local_date("2026-12-04")  # as the messages' language writes dates
    assert sum(line.startswith(f"• ⚖️ TJSP · {written} · Intimação · case 0001234-") for line in lines) == 40
    ana = lines.index("*Person: Ana Souza* (14)")
    assert lines[ana + 1] == reverse("scrapers:person", args=[people[0].pk])
    assert "0001234-03.2026" in "\n".join(lines[ana : lines.index("*Person: Bruno Lima* (13)")])
    event = delivery.event
    assert event.key == f"digest:{firm.pk}:daily@08:00:{boundary.astimezone(UTC).isoformat()}"
    assert event.topic == f"digest:{firm.pk}" and event.payload["count"] == 40
    assert set(firm.subscriptions.values_list("digest_through", flat=True)) == {boundary}

    # It goes out like any delivery.
    assert sending.send_delivery(delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT and delivery.attempts == 1


def test_an_empty_window_sends_nothing_and_moves_on(outbox, people):
    firm = office(outbox, [people[0].topic])
    publication(people[1], 1)  # someone else's
    boundary, later = next_sweep(firm)

    assert digests.sweep(now=later) == {"sent": 0, "empty": 1, "busy": 0, "done": 0}

    assert not Delivery.objects.filter(recipient=firm).exists()
    assert firm.subscriptions.get().digest_through == boundary
    assert digests.sweep(now=later) == {"sent": 0, "empty": 0, "busy": 0, "done": 0}  # nothing due any more


def test_sweeping_twice_or_after_a_restart_sends_once(outbox, people):
    firm = office(outbox, [people[0].topic])
    publication(people[0], 1)
    boundary, later = next_sweep(firm)

    assert digests.sweep(now=later)["sent"] == 1
    assert digests.sweep(now=later)["sent"] == 0
    assert digests.sweep(now=later + timedelta(minutes=30))["sent"] == 0
    # A restart that lost the bookkeeping (the delivery exists, digest_through did not move): the key is taken.
    firm.subscriptions.update(digest_through=None)
    assert digests.sweep(now=later) == {"sent": 0, "empty": 0, "busy": 0, "done": 1}
    assert digest_deliveries(firm).count() == 1
    assert firm.subscriptions.get().digest_through == boundary
    # The next day's events are the next day's digest.
    publication(people[0], 2)
    Event.objects.filter(key=f"publication.new:{people[0].pk}:2").update(created_at=boundary + timedelta(hours=1))
    assert digests.sweep(now=later + timedelta(days=1))["sent"] == 1
    assert digest_deliveries(firm).count() == 2
    assert digest_deliveries(firm).order_by("pk").last().event.payload["count"] == 1


def test_a_pattern_and_an_object_subscription_tell_an_event_once(outbox, people):
    firm = office(outbox, [people[0].topic, "person:*"])
    publication(people[0], 1)
    publication(people[1], 2)
    _boundary, later = next_sweep(firm)

    assert digests.sweep(now=later)["sent"] == 1
    assert digest_deliveries(firm).get().event.payload["count"] == 2


def test_other_schedules_and_event_types_and_inactive_recipients(outbox, people):
    firm = office(outbox, [people[0].topic])
    Subscription.objects.create(
        recipient=firm, topic=people[1].topic, digest="hours", digest_hours=24, created_at=timezone.now() - timedelta(1)
    )
    source = Source.objects.create(name="Diário Oficial", kind="html", url="https://example.org/do")
    Subscription.objects.create(
        recipient=firm,
        topic="sources:broken",
        digest="daily",
        digest_at=time(8, 0),
        created_at=timezone.now() - timedelta(days=1),
    )
    publication(people[0], 1)
    publication(people[1], 2)
    publish(source.topic, {"type": "source.broken", "source": source.pk, "source_name": source.name, "error": "503"})
    publish(source.topic, {"type": "item.new", "source": source.pk, "title": "Not broken news"})
    paused = office(outbox, [people[0].topic], address="pausado")
    paused.active = False
    paused.save()

    digests.sweep(now=timezone.now() + timedelta(days=2))

    bodies = {d.event.payload["schedule"]: d.body for d in digest_deliveries(firm)}
    assert set(bodies) == {"daily@08:00", "hours/24"}  # one message per schedule
    assert (
        "*Person: Ana Souza* (1)" in bodies["daily@08:00"] and "*Source: Diário Oficial* (1)" in bodies["daily@08:00"]
    )
    assert "⚠️ Failing: 503" in bodies["daily@08:00"] and "Not broken news" not in bodies["daily@08:00"]
    assert "*Person: Bruno Lima* (1)" in bodies["hours/24"] and "Ana" not in bodies["hours/24"]
    assert not Delivery.objects.filter(recipient=paused).exists()
    assert paused.subscriptions.get().digest_through is not None  # nothing owed once it is active again


def test_a_long_digest_is_capped_with_a_link_to_the_dashboard(outbox, people, settings):
    settings.VIGIA_BASE_URL = "https://vigia.example.org/"
    firm = office(outbox, ["person:*"])
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            topic=people[index % 3].topic,
            type="publication.new",
            payload={"tribunal": "TRF3", "process": f"{index:07d}", "date": "2026-12-04"},
            created_at=now,
        )
        for index in range(450)
    )
    _boundary, later = next_sweep(firm)

    digests.sweep(now=later)

    body = digest_deliveries(firm).get().body
    lines = body.splitlines()
    assert len(lines) <= digests.MAX_LINES
    shown = sum(line.startswith("• ⚖️") for line in lines)
    assert lines[-1] == f"… and {450 - shown} more: https://vigia.example.org/"
    assert f"https://vigia.example.org{reverse('scrapers:person', args=[people[0].pk])}" in lines
    assert lines[0] == "📋 *Vigia: digest — 450 updates*"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_send_one_digest():
    channel = Channel.objects.create(name="avisos", kind="outbox")
    person = MonitoredPerson.objects.create(name="Ana Souza")
    firm = office(channel, [person.topic])
    for index in range(5):
        publication(person, index)
    _boundary, later = next_sweep(firm)
    start, results, errors = threading.Barrier(4), [], []

    def sweeper():
        try:
            start.wait()
            results.append(digests.sweep(now=later))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sum(result["sent"] for result in results) == 1
    assert digest_deliveries(firm).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no row locks")
def test_a_recipient_another_process_holds_is_skipped_until_it_lets_go():
    channel = Channel.objects.create(name="avisos", kind="outbox")
    person = MonitoredPerson.objects.create(name="Ana Souza")
    firm = office(channel, [person.topic])
    publication(person, 1)
    _boundary, later = next_sweep(firm)
    held, release, outcome = threading.Event(), threading.Event(), {}

    def holder():
        try:
            with transaction.atomic():
                Recipient.objects.select_for_update().get(pk=firm.pk)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        outcome["busy"] = digests.sweep(now=later)
    finally:
        release.set()
        thread.join(10)

    assert outcome["busy"] == {"sent": 0, "empty": 0, "busy": 1, "done": 0}
    assert digests.sweep(now=later)["sent"] == 1


def test_the_sweep_is_a_leader_chore():
    from scheduler import periodic

    chore = next(chore for chore in periodic.chores() if chore.name == "send_digests")
    assert chore.every == 30


# --- forms: the recipient page's, the Notify panel's and the admin's ---------------------------------------


@pytest.fixture
def group(outbox):
    return Recipient.objects.create(channel=outbox, address="grupo", label="Grupo")


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"digest": "hours", "digest_hours": "0"}, {"digest_hours": ["Choose between 1 and 168 hours."]}),
        ({"digest": "hours", "digest_hours": "169"}, {"digest_hours": ["Choose between 1 and 168 hours."]}),
        ({"digest": "hours"}, {"digest_hours": ["Say every how many hours (1 to 168)."]}),
        ({"digest": "daily"}, {"digest_at": ["Choose the time of day the digest goes out."]}),
        ({"digest": "daily", "digest_at": "25:00"}, {"digest_at": ["Enter a valid time."]}),
        (
            {"digest": "daily", "digest_at": "08:00", "digest_hours": "6"},
            {"digest_hours": ["Only for a digest every few hours: leave it empty."]},
        ),
        (
            {"digest": "hours", "digest_hours": "6", "digest_at": "08:00"},
            {"digest_at": ["Only for a daily digest: leave it empty."]},
        ),
        ({"digest": "", "digest_at": "08:00"}, {"digest_at": ["Only for a daily digest: leave it empty."]}),
        ({"digest": "", "digest_hours": "3"}, {"digest_hours": ["Only for a digest every few hours: leave it empty."]}),
        ({"digest": "weekly"}, {"digest": ["Select a valid choice. weekly is not one of the available choices."]}),
    ],
)
def test_nonsense_delivery_settings_are_field_errors(group, people, fields, errors):
    form = SubscriptionForm({"recipient": group.pk, "topic": people[0].topic, **fields})
    assert form.errors == errors

    panel = NotifyForm(people[0].topic, {"recipient": group.pk, "event_types": ["publication.new"], **fields})
    assert panel.errors == errors


def test_valid_delivery_settings_save_and_a_new_digest_starts_now(group, people):
    form = SubscriptionForm({"recipient": group.pk, "topic": people[0].topic, "digest": "daily", "digest_at": "08:00"})
    saved = form.save()
    assert (saved.digest, saved.digest_at, saved.digest_hours) == ("daily", time(8, 0), None)

    at_once = Subscription.objects.create(recipient=group, topic=people[1].topic, created_at=at(2026, 1, 1))
    form = SubscriptionForm(
        {"recipient": group.pk, "topic": people[1].topic, "digest": "hours", "digest_hours": "6"}, instance=at_once
    )
    saved = form.save()
    # What was sent at once before is not told again in its first digest.
    assert saved.digest_through is not None and timezone.now() - saved.digest_through < timedelta(minutes=1)
    assert digests.in_words(saved) == "digest every 6 h"


def test_the_notify_panel_sets_a_digest_and_lists_it(staff_client, group, people):
    person = people[0]
    data = {
        "topic": person.topic,
        "recipient": group.pk,
        "event_types": ["publication.new"],
        "digest": "daily",
        "digest_at": "08:00",
    }

    body = staff_client.post(reverse("channels_app:notify"), data, **HTMX).content.decode()

    assert "daily digest at 08:00" in body and "Grupo on avisos will be notified: daily digest at 08:00." in body
    assert Subscription.objects.get(recipient=group).digest_at == time(8, 0)
    group.time_zone = NY
    group.save()
    Subscription.objects.filter(recipient=group).update(digest="hours", digest_hours=6, digest_at=None)
    page = staff_client.get(reverse("scrapers:person", args=[person.pk])).content.decode()
    assert "digest every 6 h (America/New_York)" in page

    bad = staff_client.post(reverse("channels_app:notify"), {**data, "digest_at": ""}, **HTMX).content.decode()
    assert "Choose the time of day the digest goes out." in bad


def test_the_recipient_page_and_the_admin_validate_the_same(staff_client, admin_client, group, people):
    url = reverse("channels_app:subscription_new", args=[group.pk])
    response = staff_client.post(url, {"topic": people[0].topic, "digest": "hours", "digest_hours": "500"}, **HTMX)
    assert response.context["subscription_form"].errors == {"digest_hours": ["Choose between 1 and 168 hours."]}

    add = reverse("admin:channels_app_subscription_add")
    data = {"recipient": group.pk, "topic": people[0].topic, "digest": "daily", "_save": "Save"}
    response = admin_client.post(add, data)
    assert response.context["adminform"].form.errors == {"digest_at": ["Choose the time of day the digest goes out."]}
    assert admin_client.post(add, {**data, "digest_at": "07:30"}).status_code == 302
    listing = admin_client.get(reverse("admin:channels_app_subscription_changelist")).content.decode()
    assert "daily digest at 07:30" in listing
    assert not Subscription.objects.filter(digest_hours=500).exists()
