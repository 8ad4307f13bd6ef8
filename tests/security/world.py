"""One of every object the dashboard shows, with chosen text in every field a page displays, so that
walking the URL resolver finds real detail pages (data that could leak) and every place text is rendered.

`text(label)` gives the text for a field: a marker in the leak tests, an XSS payload in the browser test."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from channels_app import tokens
from channels_app.models import Channel, Delivery, Event, Message, MessageTemplate, Recipient, Subscription
from scheduler.models import Run
from scrapers.models import Item, ItemRevision, MonitoredPerson, PeopleTransfer, Publication, PublicationMatch, Source
from tests.support.factories import make_job

CHANNEL_SECRET = "s3cr3t-channel-value"


@dataclass
class World:
    objects: dict = field(default_factory=dict)  # url prefix ("jobs", "runs"…) → the object its <pk> names
    secrets: tuple = ()  # values no page may ever show: a channel's secret, an API token

    def pk_for(self, prefix):
        return self.objects[prefix].pk


def build(text, link="https://example.org/page"):
    """Every kind of object, each with `text(label)` in its displayed fields; `link` where a URL is shown."""
    now = timezone.now()
    job = make_job(name=text("job name"), kind="noop", params={"note": text("job params")})
    run = Run.objects.create(
        job=job,
        scheduled_for=now - timedelta(minutes=1),
        due_at=now - timedelta(minutes=1),
        status=Run.Status.FAILED,
        started_at=now - timedelta(seconds=50),
        finished_at=now - timedelta(seconds=40),
        duration_ms=10_000,
        worker=text("run worker"),
        error=text("run error"),
        traceback=text("run traceback"),
        result={"detail": text("run result")},
    )
    for status, minutes in ((Run.Status.RUNNING, 0), (Run.Status.QUEUED, 2)):  # the queue page shows these
        Run.objects.create(
            job=job,
            scheduled_for=now + timedelta(minutes=minutes),
            due_at=now,
            queued_at=now,
            status=status,
            started_at=now if status == Run.Status.RUNNING else None,
            heartbeat_at=now,
            worker=text("worker"),
        )
    source = Source.objects.create(
        name=text("source name"),
        kind="html",
        url=link,
        config={"items": "li", "title": "h3"},
        last_error=text("source error"),
        last_error_at=now,
        consecutive_failures=3,
        broken=True,
    )
    item = Item.objects.create(
        source=source,
        key="item-1",
        title=text("item title"),
        body=text("item body"),
        url=link,
        content_hash="a" * 64,
        raw={"title": text("item raw")},
        revisions_count=1,
    )
    ItemRevision.objects.create(
        item=item, title=text("old title"), body=text("old body"), url=link, content_hash="b" * 64, valid_from=now
    )
    person = MonitoredPerson.objects.create(
        name=text("person name"), notes=text("person notes"), last_error=text("person error")
    )
    publication = Publication.objects.create(
        djen_id=4242,
        tribunal="TJSP",
        organ=text("publication organ"),
        class_name=text("publication class"),
        text=text("publication text"),
        link=link,
        date=now.date(),
    )
    PublicationMatch.objects.create(person=person, publication=publication, how="name")
    channel = Channel.objects.create(name=text("channel name"), kind="outbox", secrets={"token": CHANNEL_SECRET})
    recipient = Recipient.objects.create(channel=channel, label=text("recipient name"), address=text("address"))
    subscription = Subscription.objects.create(recipient=recipient, topic=f"source:{source.pk}")
    template = MessageTemplate.objects.create(
        name="item.new", subject=text("template subject"), body=text("template body") + " {{ title }}"
    )
    event = Event.objects.create(
        topic=f"source:{source.pk}", type="item.new", key="evt-1", payload={"title": text("event payload")}
    )
    delivery = Delivery.objects.create(
        event=event,
        recipient=recipient,
        status=Delivery.Status.FAILED,
        subject=text("delivery subject"),
        body=text("delivery body"),
        attempts=1,
        error=text("delivery error"),
    )
    token, raw_token = tokens.create(text("token name")[:100])
    Message.objects.create(
        service="crm", key="m-1", token=token, channel=channel, to="x", body=text("message body"), send_at=now
    )
    problem = {"line": 2, "column": text("import column"), "message": text("import problem")}
    transfer = PeopleTransfer.objects.create(
        kind=PeopleTransfer.Kind.IMPORT,
        file_name=text("import file name")[:255],
        upload=b"name\nMaria\n",
        report={"rows": 1, "created": 0, "updated": 0, "unchanged": 0, "rejected": 1, "problems": [problem]},
        done=1,
        total=1,
        finished_at=now,
    )
    sync_job = make_job(name=text("sync job name"), kind="sync_people", schedule_type="manual")
    sync = Run.objects.create(  # "Check all people now": its answer shows the run's error
        job=sync_job, scheduled_for=now, due_at=now, status=Run.Status.FAILED, error=text("sync error")
    )
    group = Group.objects.create(name=text("group name")[:150])
    watcher = User.objects.create_user("watcher", first_name=text("user name")[:150], password="x")
    watcher.groups.add(group)
    world = World(secrets=(CHANNEL_SECRET, raw_token))
    world.objects.update(
        jobs=job,
        runs=run,
        sources=source,
        items=item,
        people=person,
        publications=publication,
        channels=channel,
        recipients=recipient,
        subscriptions=subscription,
        templates=template,
        deliveries=delivery,
        transfers=transfer,
        sync=sync,
        users=watcher,  # /users/<pk>/role/ and /users/<pk>/deactivate/
    )
    return world


def admin_object(app_label, model_name):
    """The first saved object of an admin-registered model (or None), for admin/<app>/<model>/<pk>/… URLs."""
    model = ContentType.objects.get_by_natural_key(app_label, model_name).model_class()
    return model.objects.order_by("pk").first()


def any_user():
    return User.objects.order_by("pk").first()


def snapshot():
    """Every row of every table, as the database stores it (encrypted columns as their ciphertext), to show that
    a refused request changed nothing. Plain SQL: the fuzzers take one before and after each case."""
    from django.apps import apps
    from django.db import connection

    quote = connection.ops.quote_name
    tables = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if (
                model._meta.label == "sessions.Session"
            ):  # a login writes its session; no request here changes data in it
                continue
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            cursor.execute(f"SELECT * FROM {table} ORDER BY {pk}")
            tables[model._meta.label] = cursor.fetchall()
    return tables
