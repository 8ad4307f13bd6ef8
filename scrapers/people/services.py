"""Monitored people: PersonForm (the one validation: admin, import, dashboard, API), each person's
check_person job, and the operations on them — the first check on creation, the periodic fan-out,
force sync and expiry. Checking one person is scrapers.people.publications'."""

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypedDict, cast

from django import forms
from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Exists, Field, OuterRef, Q, QuerySet
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app import phones
from channels_app.events import publish
from scheduler import services, system_jobs
from scheduler.forms import model_words
from scheduler.models import Job, Run
from scheduler.shared import audit, bounds
from scrapers.models import MonitoredPerson
from scrapers.people import brazil

log = logging.getLogger("vigia.people")


class SyncProgress(Protocol):
    """force_sync's `progress(done, total, queued=...)` (a scheduler.progress.RunProgress)."""

    def __call__(self, done: int, total: int, *, queued: int) -> object: ...


class ExpiredRow(TypedDict):
    """One person expire() deactivated."""

    pk: int
    name: str
    monitor_until: date | None


FIELDS = [
    "name",
    "document",
    "oab_number",
    "oab_uf",
    "tribunals",
    "match_in_text",
    "recipients",
    "active",
    "monitor_until",
    "check_interval_minutes",
    "notes",
]
EXPIRED_TOPIC = "people:expired"
# find_twin, or an import's own look-up: (normalized name, CPF/CNPJ, the pk to leave out) → another person or None.
TwinFinder = Callable[[str, str, int | None], MonitoredPerson | None]


def clean_recipient(address: str) -> str:
    """A phone with country code (digits), a WhatsApp group JID (…@g.us) or an e-mail address."""
    address = address.strip()
    if address.lower().endswith("@g.us"):  # a mistyped group would otherwise pass as an e-mail address
        return phones.clean_group(address)
    if "@" in address:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(
                _("'%(address)s' is not a valid e-mail address or group JID (…@g.us)."), params={"address": address}
            ) from None
        return address.lower()
    return phones.clean_phone(address)


class RecipientsField(forms.CharField):
    """Addresses separated by commas, semicolons or line breaks ⇄ a list."""

    widget = forms.Textarea(attrs={"rows": 2})

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    # A CharField that cleans to a list: the stubs tie CharField.to_python to str.
    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            parts = value
        else:
            parts = re.split(r"[,;\n]+", value or "")
        found: list[str] = []
        errors: list[str] = []
        for part in parts:
            if not str(part).strip():
                continue
            try:
                address = clean_recipient(str(part))
            except ValidationError as exc:
                errors.extend(exc.messages)
                continue
            if address not in found:
                found.append(address)
        if errors:
            raise ValidationError(errors)
        return found


class PersonForm(forms.ModelForm):
    # Declared for their own cleaning; their labels and help texts, as every field's, are the model's.
    tribunals = forms.CharField(required=False, **model_words(MonitoredPerson, "tribunals"))
    recipients = RecipientsField(required=False, **model_words(MonitoredPerson, "recipients"))
    document = forms.CharField(required=False, max_length=20, **model_words(MonitoredPerson, "document"))
    monitor_until = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        validators=[bounds.check_date],
        **model_words(MonitoredPerson, "monitor_until"),
    )

    class Meta:
        model = MonitoredPerson
        fields = FIELDS

    def clean_name(self) -> str:
        # Invisible characters pasted with a name (a zero-width space from a web page) are dropped: they would
        # split its words apart for matching and no spreadsheet could show them.
        name = " ".join(brazil.without_invisible(self.cleaned_data.get("name")).split())
        normalized = brazil.normalize_name(name)
        if len(re.sub(r"[^a-z]", "", normalized)) < 3:
            raise ValidationError(_("Give the person's or company's name (at least three letters)."))
        return name

    def clean_document(self) -> str:
        return brazil.clean_document(self.cleaned_data.get("document"))

    def clean_tribunals(self) -> str:
        return ",".join(brazil.clean_tribunals(self.cleaned_data.get("tribunals") or ""))

    def clean_check_interval_minutes(self) -> int | None:
        value = self.cleaned_data.get("check_interval_minutes")
        if value is not None and not 5 <= value <= 7 * 24 * 60:
            raise ValidationError(_("Between 5 minutes and 7 days (10080 minutes)."))
        return value

    def clean_monitor_until(self) -> date | None:
        value = self.cleaned_data.get("monitor_until")
        changed = value != self.instance.monitor_until
        # An inactive person's past expiry is history (an export of deactivated people imports again).
        if value and changed and value < timezone.localdate() and self.cleaned_data.get("active", True):
            raise ValidationError(_("This day has passed."))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # ModelForm.clean returns cleaned_data
        for name, messages in check_across_fields(data, self.instance, self.errors, find_twin):
            self.add_error(name, messages)
        return data

    def save(self, commit: bool = True) -> MonitoredPerson:
        person = super().save(commit=False)
        if commit:
            save_person(person, shown=[name for name in self.fields if name in FIELDS])
        return person


def find_twin(normalized_name: str, document: str, exclude_pk: int | None) -> MonitoredPerson | None:
    """Another monitored person with this identity (normalized name + CPF/CNPJ), or None."""
    twins = MonitoredPerson.objects.filter(normalized_name=normalized_name, document=document)
    # exclude(pk=None) (a new person) is Django's IS NULL, which excludes nobody; the plugin wants a pk.
    return twins.exclude(pk=exclude_pk).first()  # type: ignore[misc]


def check_across_fields(
    data: dict[str, Any], instance: MonitoredPerson, errors: Container[str], twin: TwinFinder = find_twin
) -> list[tuple[str, list[str]]]:
    """PersonForm.clean's checks of several fields together: the OAB (number and state; written cleaned
    into `data`) and whether someone else has the same identity (`twin` finds them). Returns (field,
    messages) to add; an OAB field that already failed alone is not reported twice."""
    found: list[tuple[str, list[str]]] = []
    try:
        data["oab_number"], data["oab_uf"] = brazil.clean_oab(data.get("oab_number"), data.get("oab_uf"))
    except ValidationError as exc:
        found.extend((name, messages) for name, messages in exc.message_dict.items() if name not in errors)
    if "name" in data and "document" in data:
        other = twin(brazil.normalize_name(data["name"]), data["document"], instance.pk)
        if other:
            found.append(("name", [_("Already monitored: %(name)s (#%(id)s).") % {"name": other.name, "id": other.pk}]))
    return found


class _Cleaning:
    """What PersonForm's clean_<field> methods read from `self`: the data cleaned so far and the person."""

    def __init__(self, cleaned_data: dict[str, Any], instance: MonitoredPerson) -> None:
        self.cleaned_data, self.instance = cleaned_data, instance


def validate_person(
    data: Mapping[str, Any], instance: MonitoredPerson, twin: TwinFinder = find_twin
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """PersonForm(data=data, instance=instance)'s validation without building the form: an import checks
    thousands of rows, and a form costs ~0.8 ms a row (its fields deep-copied, each bound) where this costs a
    fraction. The same steps in ModelForm.full_clean's order, with the form's own field objects and methods:
    each field's clean() then the form's clean_<field>, the checks across fields, then the model fields' own
    validation (ModelForm._post_clean). Returns (cleaned data, {field: [messages]}); the tests compare both
    with PersonForm's on generated hostile rows."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def add(name: str, messages: list[str]) -> None:
        errors.setdefault(name, []).extend(messages)
        cleaned.pop(name, None)

    cleaning = _Cleaning(cleaned, instance)
    for name, field in PersonForm.base_fields.items():
        try:
            cleaned[name] = field.clean(field.widget.value_from_datadict(data, {}, name))
            if method := getattr(PersonForm, f"clean_{name}", None):
                cleaned[name] = method(cleaning)
        except ValidationError as exc:
            add(name, exc.messages)
    for name, messages in check_across_fields(cleaned, instance, errors, twin):
        add(name, messages)
    for name, value in list(cleaned.items()):
        # A concrete field (get_field's type covers relations too).
        model_field = cast("Field[Any, Any]", MonitoredPerson._meta.get_field(name))
        form_field = PersonForm.base_fields[name]
        # Left out as ModelForm._get_validation_exclusions and Model.clean_fields leave them out.
        if not model_field.blank and not form_field.required and value in form_field.empty_values:
            continue
        if model_field.blank and value in model_field.empty_values:
            continue
        try:
            model_field.clean(value, instance)
        except ValidationError as exc:
            add(name, exc.messages)
    return cleaned, errors


@transaction.atomic
def save_person(person: MonitoredPerson, shown: Sequence[str] | None = None) -> MonitoredPerson:
    """Write the person and keep its job in step; a new active person gets its first check queued at once
    (on the high queue, ahead of the routine cycle). `shown`: on an edit, the only fields to write, so a
    check finishing meanwhile keeps what it recorded."""
    created = person.pk is None
    previous: list[str] = (
        [] if created else MonitoredPerson.objects.filter(pk=person.pk).values_list("recipients", flat=True)[0]
    )
    if created:
        person.next_check_at = timezone.now() + timedelta(minutes=person.check_interval_minutes)
        person.save()
    else:
        person.save(update_fields=[*(shown or FIELDS), "updated_at"])
    sync_job(person)
    sync_subscriptions(person, previous)
    if created and person.active:
        assert person.job is not None  # sync_job gave it one
        services.run_now(person.job, trigger=Run.Trigger.MANUAL, queue_name=Job.Queue.HIGH)
    return person


def sync_job(person: MonitoredPerson) -> Job:
    job = job_for(person)
    services.refresh_schedule(job)
    job.save()
    if person.job_id != job.pk:
        person.job = job
        MonitoredPerson.objects.filter(pk=person.pk).update(job=job)
    return job


def job_for(person: MonitoredPerson) -> Job:
    """The person's check_person job (a new one for a person who has none) with the person's name and state;
    not saved."""
    job = person.job or Job(
        kind="check_person",
        schedule_type=Job.ScheduleType.MANUAL,
        queue=Job.Queue.DEFAULT,
        timeout_seconds=300,
        max_attempts=4,
        backoff_base_seconds=30,
        backoff_cap_seconds=900,
        backoff_jitter=0.5,
    )
    job.name = f"Person #{person.pk}: {person.name}"[:200]
    job.params = {"person_id": person.pk}
    job.enabled = person.active
    return job


def sync_subscriptions(person: MonitoredPerson, previous: Iterable[str] | None = ()) -> None:
    sync_many_subscriptions([(person, previous)])


def sync_many_subscriptions(changes: Sequence[tuple[MonitoredPerson, Iterable[str] | None]]) -> None:
    """Subscribe each person's recipients to `person:<id>`, for `changes` = [(person, recipients before)]:
    phones and group JIDs through the first enabled WhatsApp channel, e-mail addresses through the first
    enabled e-mail channel (by name). Addresses taken off a list lose that subscription (others on the topic,
    made by operators, stay); an address with no channel of its kind yet is skipped and logged. A few
    queries for all the people together (an import subscribes thousands)."""
    from channels_app.models import Channel, Recipient, Subscription

    for person, previous in changes:
        dropped = [address for address in previous or [] if address not in (person.recipients or [])]
        if dropped:
            Subscription.objects.filter(topic=person.topic, recipient__address__in=dropped).delete()
    wanted = [(person, address) for person, _previous in changes for address in person.recipients or []]
    if not wanted:
        return
    channels: dict[str, Channel | None] = {}
    for kind in ("wuzapi", "email"):
        channels[kind] = Channel.objects.filter(kind=kind, enabled=True).order_by("name").first()
    by_channel: defaultdict[int, set[str]] = defaultdict(set)
    pairs: list[tuple[int, str, str]] = []
    for person, address in wanted:
        channel = channels["email" if "@" in address and not address.endswith("@g.us") else "wuzapi"]
        if channel is None:
            log.warning("no channel for a person's recipient", extra={"person": person.pk})
            continue
        by_channel[channel.pk].add(address)
        pairs.append((channel.pk, address, person.topic))
    recipients: dict[tuple[int, str], int] = {}
    for channel_id, addresses in by_channel.items():
        known = Recipient.objects.filter(channel_id=channel_id, address__in=addresses)
        recipients.update({(channel_id, r.address): r.pk for r in known})
        missing = [Recipient(channel_id=channel_id, address=a) for a in addresses if (channel_id, a) not in recipients]
        if missing:  # ignore_conflicts: another import may add the same address meanwhile
            Recipient.objects.bulk_create(missing, ignore_conflicts=True)
            known = Recipient.objects.filter(channel_id=channel_id, address__in=[r.address for r in missing])
            recipients.update({(channel_id, r.address): r.pk for r in known})
    Subscription.objects.bulk_create(
        [Subscription(recipient_id=recipients[(c, a)], topic=topic) for c, a, topic in pairs], ignore_conflicts=True
    )


@receiver(post_delete, sender=MonitoredPerson)
def _delete_job(sender: type[MonitoredPerson], instance: MonitoredPerson, **kwargs: Any) -> None:
    if instance.job_id:
        Job.objects.filter(pk=instance.job_id).delete()
    from channels_app.models import Subscription

    Subscription.objects.filter(topic=instance.topic).delete()


def monitored(today: date | None = None) -> QuerySet[MonitoredPerson]:
    """Active people whose monitoring has not expired."""
    today = today or timezone.localdate()
    return MonitoredPerson.objects.filter(active=True).filter(
        Q(monitor_until__isnull=True) | Q(monitor_until__gte=today)
    )


def fan_out(now: datetime | None = None, batch: int | None = None) -> int:
    """Queue one check_person run for every person due now; returns how many were queued.

    Each batch is claimed in one transaction: `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite's writers are
    serialized anyway) then next_check_at moves one interval on, so a concurrent fan-out neither waits for
    these rows nor finds them due. People whose previous check is still queued or running are left alone.
    """
    now = now or timezone.now()
    batch = batch or settings.VIGIA_PEOPLE_BATCH
    total = 0
    while True:
        with transaction.atomic():
            claimed = _claim(now, batch)
            total += _queue(claimed, now)
        if len(claimed) < batch:
            return total


def _claim(now: datetime, batch: int) -> list[MonitoredPerson]:
    busy = Run.objects.filter(job_id=OuterRef("job_id"), status__in=[*Run.ACTIVE, Run.Status.RETRYING])
    due = (
        monitored(timezone.localdate(now))
        .filter(next_check_at__lte=now)
        .filter(~Exists(busy))
        .order_by("next_check_at", "pk")
    )
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True, of=("self",))
    return list(due.select_related("job")[:batch])


def _queue(people: list[MonitoredPerson], now: datetime) -> int:
    by_interval: defaultdict[int, list[int]] = defaultdict(list)
    for person in people:
        by_interval[person.check_interval_minutes].append(person.pk)
    for minutes, ids in by_interval.items():  # one UPDATE per interval, not one per person
        MonitoredPerson.objects.filter(pk__in=ids).update(next_check_at=now + timedelta(minutes=minutes))
    return services.run_many(_jobs(people), trigger=Run.Trigger.SCHEDULE)


def _jobs(people: Iterable[MonitoredPerson]) -> list[Job]:
    """Each person's check_person job (created for a person who has none, e.g. one written in bulk)."""
    return [person.job or sync_job(person) for person in people]


def force_sync(
    people: Iterable[MonitoredPerson] | None = None,
    queue_name: str | None = None,
    progress: SyncProgress | None = None,
) -> int:
    """Queue a check of every active person (or of `people`) now, whatever their schedule; a check already
    waiting is kept, not doubled. Returns the count queued. `progress(done, total, queued)` hears of each
    page (the sync_people job's run shows it)."""
    chosen = monitored() if people is None else MonitoredPerson.objects.filter(pk__in=[p.pk for p in people])
    if people is not None and audit.current() is not None:  # "check now" by a person: one entry each
        audit.record_each(chosen, "check now")
    chosen = chosen.select_related("job").order_by("pk")
    total = chosen.count() if progress else None
    queued, done, after = 0, 0, 0
    while page := list(chosen.filter(pk__gt=after)[: settings.VIGIA_PEOPLE_BATCH]):  # keyset pages
        with transaction.atomic():
            queued += services.run_many(_jobs(page), trigger=Run.Trigger.MANUAL, queue_name=queue_name)
        done, after = done + len(page), page[-1].pk
        if progress:
            assert total is not None  # counted when there is progress to report
            progress(done, max(total, done), queued=queued)
    return queued


def start_force_sync() -> Run:
    """ "Check all people now" from the dashboard: one run of the sync_people job, which a worker runs
    (force_sync over 100,000 people takes about 15 s: long work for a web request). A run of it already
    waiting or running is returned instead of a second one."""
    services.ensure_jobs([SYNC_JOB])
    job = Job.objects.get(external_service="vigia", external_key=SYNC_JOB["external_key"])
    with transaction.atomic():
        Job.objects.select_for_update().filter(pk=job.pk).first()  # two clicks at once start one run
        waiting = job.runs.filter(status__in=[*Run.ACTIVE, Run.Status.RETRYING]).order_by("-pk").first()
        return waiting or services.run_now(job)


def deactivate(people: Iterable[MonitoredPerson]) -> int:
    ids = [person.pk for person in people]
    with transaction.atomic():
        if audit.current() is not None:  # QuerySet.update sends no signal
            audit.record_each(
                MonitoredPerson.objects.filter(pk__in=ids, active=True), "deactivate", {"active": [True, False]}
            )
        count = MonitoredPerson.objects.filter(pk__in=ids, active=True).update(active=False, updated_at=timezone.now())
        Job.objects.filter(person__pk__in=ids).update(enabled=False)
    return count


def expire(today: date | None = None) -> list[ExpiredRow]:
    """Deactivate the people whose monitor_until has passed; one `people.expired` event lists them."""
    today = today or timezone.localdate()
    with transaction.atomic():
        expired: list[ExpiredRow] = list(
            MonitoredPerson.objects.select_for_update()
            .filter(active=True, monitor_until__lt=today)
            .order_by("name")
            .values("pk", "name", "monitor_until")
        )
        if not expired:
            return []
        deactivate([MonitoredPerson(pk=row["pk"]) for row in expired])
        # monitor_until__lt: never NULL here (the plugin types the column as nullable).
        people = [
            {"id": row["pk"], "name": row["name"], "until": cast(date, row["monitor_until"]).isoformat()}
            for row in expired
        ]
        publish(
            EXPIRED_TOPIC,
            {"type": "people.expired", "count": len(people), "people": people},
            key=f"people.expired:{today.isoformat()}:{people[0]['id']}:{people[-1]['id']}:{len(people)}",
        )
    log.info("people expired", extra={"count": len(expired)})
    return expired


CYCLE_JOBS = [
    system_jobs.declare(
        gettext_lazy("Check monitored people in DJEN"),
        {
            "external_key": "check_people",
            "name": "Check monitored people (DJEN)",
            "kind": "check_people",
            "schedule_type": Job.ScheduleType.INTERVAL,
            "interval_seconds": 60,
            "queue": Job.Queue.DEFAULT,
            "timeout_seconds": 120,
        },
    ),
    system_jobs.declare(
        gettext_lazy("End expired monitoring"),
        {
            "external_key": "expire_people",
            "name": "Expire monitored people",
            "kind": "expire_people",
            "schedule_type": Job.ScheduleType.CRON,
            "cron": "5 0 * * *",
            "queue": Job.Queue.LOW,
            "timeout_seconds": 300,
            "max_attempts": 3,
        },
    ),
]


SYNC_JOB = system_jobs.declare(
    gettext_lazy("Check every monitored person now"),
    {
        "external_key": "sync_people",
        "name": "Check every monitored person now",
        "kind": "sync_people",
        "schedule_type": Job.ScheduleType.MANUAL,  # run by "Check all people now"
        "queue": Job.Queue.DEFAULT,  # not high: gincana checks go first
        "timeout_seconds": 900,
        "max_attempts": 3,  # a lost worker: the next attempt queues the rest (waiting checks are kept)
        "backoff_base_seconds": 10,
        "backoff_cap_seconds": 60,
    },
)


def ensure_cycle_jobs() -> list[Job]:
    """Create the periodic people jobs once (operators may then edit or pause them; we never overwrite)."""
    return services.ensure_jobs([*CYCLE_JOBS, SYNC_JOB])


def _ensure_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    if settings.VIGIA_SYSTEM_JOBS:
        ensure_cycle_jobs()
