"""The scrapers admin: sources saved through SourceForm (and their jobs with them), actions, items, budgets."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from scheduler.models import Budget, Job, Run
from scheduler.shared import budgets
from scrapers import ratelimit
from scrapers.models import HostBudget, Item, ItemRevision, Source
from tests.loopback.organizer import make_source, page

SOURCES = reverse("admin:scrapers_source_changelist")
ADD_SOURCE = reverse("admin:scrapers_source_add")
ITEMS = reverse("admin:scrapers_item_changelist")


@pytest.fixture(autouse=True)
def _local_zone(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"  # the operator's clock in these tests (UTC−3, no DST)


def form_data(url="https://example.com/tarefas", **overrides):
    """What the add/change form posts for a valid HTML source checked every 30 s (dates split in two inputs)."""
    data = {
        "name": "Organizer",
        "kind": "html",
        "url": url,
        "config": '{"items": "li.task", "title": "h3", "link": "a@href"}',
        "interval_seconds": "30",
        "cron": "",
        "timezone": "UTC",
        "active_from_0": "",
        "active_from_1": "",
        "active_until_0": "",
        "active_until_1": "",
        "enabled": "on",
        "announce_first_check": "",
        "method": "GET",
        "headers": "{}",
        "timeout_seconds": "5",
        "user_agent": "",
        "_save": "Save",
    }
    return {key: value for key, value in {**data, **overrides}.items() if value is not None}


def change_url(source):
    return reverse("admin:scrapers_source_change", args=[source.pk])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client, action, objects):
    return client.post(SOURCES, {"action": action, "_selected_action": [obj.pk for obj in objects]}, follow=True)


# --- add and change go through SourceForm, and the job follows ------------------------------------


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"config": '{"items": "li[", "title": "h3"}'}, "config", "items: "),
        ({"config": "{not json"}, "config", "Enter a valid JSON."),
        ({"kind": "no_such_kind"}, "kind", "Unknown kind 'no_such_kind'"),
        ({"url": "ftp://example.com/x"}, "url", "Use an http:// or https:// address."),
        ({"url": "not a url"}, "url", "Enter a valid URL."),
        ({"cron": "61 * * * *"}, "cron", "The minute field '61' is not valid"),
        ({"interval_seconds": "0"}, "interval_seconds", "Give a positive interval in seconds, or a cron expression."),
        ({"timezone": "Mars/Base"}, "timezone", "Unknown time zone 'Mars/Base'"),
        ({"headers": '{"X": 1}'}, "headers", "Header 'X' must have a string value."),
    ],
)
def test_an_invalid_add_shows_the_field_error_and_saves_nothing(db, admin_client, overrides, field, message):
    response = admin_client.post(ADD_SOURCE, form_data(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any(message in error for error in errors[field]), errors
    assert not Source.objects.exists() and not Job.objects.exists()


def test_a_valid_add_creates_the_source_and_its_job(db, admin_client):
    response = admin_client.post(ADD_SOURCE, form_data())

    assert response.status_code == 302
    source = Source.objects.get(name="Organizer")
    assert source.config == {"items": "li.task", "title": "h3", "link": "a@href"}
    job = Job.objects.get()
    assert source.job_id == job.pk
    assert (job.kind, job.params, job.schedule_type, job.interval_seconds, job.enabled) == (
        "check_source",
        {"source_id": source.pk},
        "interval",
        30,
        True,
    )
    assert job.next_run_at is not None and job.next_run_at > timezone.now()


def test_editing_the_schedule_updates_the_job(db, admin_client):
    admin_client.post(ADD_SOURCE, form_data())
    source = Source.objects.get()

    response = admin_client.post(change_url(source), form_data(interval_seconds="300"))

    assert response.status_code == 302
    job = Job.objects.get()
    assert job.interval_seconds == 300 and job.pk == source.job_id

    admin_client.post(change_url(source), form_data(cron="*/5 * * * *", timezone="America/Sao_Paulo"))
    job.refresh_from_db()
    assert (job.schedule_type, job.cron, job.timezone) == ("cron", "*/5 * * * *", "America/Sao_Paulo")
    assert job.next_run_at.minute % 5 == 0


def test_disabling_in_the_form_pauses_the_job(db, admin_client):
    admin_client.post(ADD_SOURCE, form_data())
    source = Source.objects.get()

    admin_client.post(change_url(source), form_data(enabled=None))  # an unticked checkbox is not posted

    job = Job.objects.get()
    assert not job.enabled and job.next_run_at is None


def test_deleting_a_source_deletes_its_job_and_counts_its_items(db, admin_client):
    source = make_source("https://example.com/tarefas")
    Item.objects.bulk_create(Item(source=source, key=str(n), content_hash="x") for n in range(3))
    delete = reverse("admin:scrapers_source_delete", args=[source.pk])

    confirmation = admin_client.get(delete).content.decode()
    assert "Items: 3" in confirmation
    response = admin_client.post(delete, {"post": "yes"})

    assert response.status_code == 302
    assert not Source.objects.exists() and not Job.objects.exists() and not Item.objects.exists()


def test_the_add_page_has_no_health_and_the_change_page_shows_it_read_only(db, admin_client):
    page_ = admin_client.get(ADD_SOURCE).content.decode()
    assert "Schedule" in page_ and "Request" in page_ and "Consecutive failures" not in page_

    source = make_source("https://example.com/tarefas")
    Source.objects.filter(pk=source.pk).update(etag='"v7"', consecutive_failures=2, last_error="HTTP 503")
    page_ = admin_client.get(change_url(source)).content.decode()
    assert "Consecutive failures" in page_ and "&quot;v7&quot;" in page_ and "HTTP 503" in page_
    assert 'name="etag"' not in page_ and 'name="consecutive_failures"' not in page_
    assert reverse("admin:scheduler_job_change", args=[source.job_id]) in page_


# --- actions --------------------------------------------------------------------------------------


def test_check_now_queues_a_recorded_run_per_source_and_links_to_it(db, admin_client, site):
    # Not a fetch inside the request (before, the admin checked synchronously and recorded no run): each
    # source gets a manual run of its job, queued for the workers, and a link to the run's live page.
    site.respond("/tarefas", body=page((1, "Tarefa 1", "a"), (2, "Tarefa 2", "b")))
    good = make_source(site.url + "/tarefas", name="Good")
    bad = make_source(site.url + "/gone", name="Bad")

    response = act(admin_client, "check_now", [good, bad])

    notes = messages_of(response)
    for source in (good, bad):
        run = Run.objects.get(job=source.job)
        assert (run.trigger, run.status) == ("manual", "queued")
        link = reverse("scheduler:run", args=[run.pk])
        assert f'Source “{source.name}”: check queued as <a href="{link}">run #{run.pk}</a>.' in notes
    assert site.requests == [] and not Item.objects.exists()


def test_check_now_queues_a_run_outside_the_active_window_too(db, admin_client):
    later = timezone.now() + timedelta(days=1)
    source = make_source("https://example.com/tarefas", active_from=later.isoformat())

    act(admin_client, "check_now", [source])

    assert Run.objects.get(job=source.job).trigger == "manual"


def test_disable_and_enable_pause_and_resume_the_jobs(db, admin_client):
    sources = [make_source("https://example.com/a", name="A"), make_source("https://example.com/b", name="B")]
    other = make_source("https://example.com/c", name="C")

    response = act(admin_client, "disable", sources)

    assert "Disabled 2 sources." in messages_of(response)
    states = dict(Job.objects.values_list("params__source_id", "enabled"))
    assert states == {sources[0].pk: False, sources[1].pk: False, other.pk: True}
    assert Job.objects.filter(enabled=False, next_run_at__isnull=False).count() == 0
    assert not Source.objects.get(name="A").enabled

    response = act(admin_client, "enable", sources)

    assert "Enabled 2 sources." in messages_of(response)
    for job in Job.objects.all():
        assert job.enabled and job.next_run_at > timezone.now()
    assert Source.objects.filter(enabled=True).count() == 3


# --- the source list ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 40])
def test_source_list_queries_do_not_grow_with_the_sources(db, admin_client, django_assert_max_num_queries, count):
    for n in range(count):
        source = make_source(f"https://example.com/{n}", name=f"source-{n:02}")
        Item.objects.bulk_create(Item(source=source, key=str(k), content_hash="x") for k in range(n % 3))

    with django_assert_max_num_queries(8):  # session, user, 2 counts, the page, the kind filter
        response = admin_client.get(SOURCES)

    assert response.status_code == 200
    rows = {source.name: source.item_count for source in response.context["cl"].result_list}
    assert rows["source-01"] == 1 and rows["source-00"] == 0 and len(rows) == count


def test_source_list_shows_health_local_times_and_filters(db, admin_client):
    success = datetime(2030, 1, 2, 12, 0, tzinfo=UTC)
    cases = {
        "fine": {"last_success_at": success},
        "new": {},
        "flaky": {"consecutive_failures": 2, "last_error": "HTTP 503"},
        "down": {"consecutive_failures": 5, "broken": True, "last_error": "HTTP 404"},
        "redesigned": {
            "consecutive_failures": 1,
            "last_error": "Selectors may be broken: 0 items where the last check found 4.",
        },
    }
    for name, health in cases.items():
        source = make_source(f"https://example.com/{name}", name=name)
        Source.objects.filter(pk=source.pk).update(**health)

    page_ = admin_client.get(SOURCES).content.decode()

    for label in [">ok<", ">not checked yet<", ">failing 2<", ">broken<", ">selectors may be broken<"]:
        assert label in page_, label
    assert "2030-01-02 09:00:00 -03" in page_  # 12:00 UTC on the operator's clock
    broken = admin_client.get(SOURCES, {"broken__exact": "1"}).content.decode()
    assert "down" in broken and "flaky" not in broken
    found = admin_client.get(SOURCES, {"q": "example.com/fla", "kind": "html", "enabled__exact": "1"})
    assert [source.name for source in found.context["cl"].result_list] == ["flaky"]


# --- items and host budgets -----------------------------------------------------------------------


def test_items_are_listed_searchable_and_read_only_with_their_revisions(
    db, admin_client, django_assert_max_num_queries
):
    source = make_source("https://example.com/tarefas")
    for n in range(30):
        Item.objects.create(source=source, key=f"key-{n}-" + "k" * 60, title=f"Tarefa {n}", content_hash="x")
    item = Item.objects.get(title="Tarefa 7")
    now = timezone.now()
    for year, body in [(2030, "v1"), (2031, "v2")]:
        replaced = now.replace(year=year)
        ItemRevision.objects.create(item=item, body=body, content_hash=body, valid_from=now, replaced_at=replaced)

    with django_assert_max_num_queries(7):
        listing = admin_client.get(ITEMS).content.decode()
    assert "Tarefa 29" in listing and "Organizer" in listing and "key-3-kkk" in listing and "k" * 60 not in listing
    found = admin_client.get(ITEMS, {"q": "key-7-", "source__id__exact": source.pk})
    assert [row.title for row in found.context["cl"].result_list] == ["Tarefa 7"]

    detail = admin_client.get(reverse("admin:scrapers_item_change", args=[item.pk])).content.decode()
    assert 'name="_save"' not in detail
    assert detail.index("2031") < detail.index("2030")  # revisions newest first
    assert admin_client.get(reverse("admin:scrapers_item_add")).status_code == 403


def test_host_budget_rate_is_editable_and_defaults_to_the_setting(db, admin_client, settings):
    # The scheduler's budgets named "host:…", listed without the channels' and edited rate only.
    settings.VIGIA_HOST_RATE = 2.5
    ratelimit.acquire("example.com")  # a budget as a fetch leaves it
    budgets.reserve("channel:1", 1)
    budget = HostBudget.objects.get(pk="host:example.com")
    slot = budget.next_slot_at
    change = reverse("admin:scrapers_hostbudget_change", args=[budget.pk])

    page_ = admin_client.get(change).content.decode()
    assert "VIGIA_HOST_RATE (2.5/s)" in page_ and "example.com" in page_
    assert 'name="next_slot_at' not in page_ and 'name="host"' not in page_ and 'name="name"' not in page_
    listing = admin_client.get(reverse("admin:scrapers_hostbudget_changelist")).content.decode()
    assert "2.5 (default)" in listing and "example.com" in listing and "channel:1" not in listing

    response = admin_client.post(change, {"per_second": "0.2", "_save": "Save"})

    assert response.status_code == 302
    budget.refresh_from_db()
    assert budget.per_second == 0.2 and Budget.objects.count() == 2  # no second row; the channel's untouched
    assert budget.next_slot_at == slot  # the workers' slot is not the form's to move
    refused = admin_client.post(change, {"per_second": "0", "_save": "Save"})
    assert refused.status_code == 200 and "greater than zero" in refused.content.decode()


def test_a_host_budget_is_added_by_host_name(db, admin_client):
    add = reverse("admin:scrapers_hostbudget_add")
    response = admin_client.post(add, {"host": "https://Example.ORG:8443/tarefas", "per_second": "3"})
    assert response.status_code == 302
    assert Budget.objects.get(pk="host:example.org:8443").per_second == 3
    again = admin_client.post(add, {"host": "example.org:8443", "per_second": "1"})
    assert again.status_code == 200 and "already has a budget" in again.content.decode()
    assert admin_client.post(add, {"host": "not a host", "per_second": "1"}).status_code == 200
    assert Budget.objects.get(pk="host:example.org:8443").per_second == 3
