"""The alerts API (composed in config.api): the open alerts, acknowledge / silence / unsilence one, and set an
object's alert policy, with the dashboard's rules (channels_app.forms_alerts) and its messages, in English.

Alerts are the operators' view of the work, as the queue is: the scope is `queue` (read: any token; write: a
token whose creator may operate). The object is named in the body by its subject (`job:7`, `deadline:7`,
`source:12`, `person:45`, `channel:3`, `system:<condition>`)."""

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone, translation
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from channels_app import alerts, views_alerts
from channels_app.forms_alerts import ActionForm, PolicyForm
from channels_app.models import Watch
from scheduler.shared.api import LIST_ERRORS, WRITE_ERRORS, ErrorOut, invalid, not_found, require

router = Router(tags=["alerts"])
RESOURCE = "queue"
SUBJECT = Field(max_length=100, description="The watched object: `job:7`, `deadline:7`, `source:12`, `person:45`…")


class PolicyOut(Schema):
    alert_after: int | None = Field(description="Failures in a row before the alert; null: the default.")
    alert_after_default: int
    remind_every_minutes: float | None
    notify_recovery: bool
    expect_every_minutes: float | None = Field(description="Jobs: must succeed at least this often; null: off.")
    expect_grace_minutes: float | None


class AlertOut(Schema):
    subject: str
    name: str
    state: Literal["ok", "failing", "alerting"]
    failures: int
    failing_since: datetime | None
    alerted_at: datetime | None
    last_error: str
    acknowledged_at: datetime | None
    acknowledged_by: str
    silenced_until: datetime | None
    silenced_by: str
    link: str | None = Field(description="The object's dashboard page (a path).")
    policy: PolicyOut


class AlertList(Schema):
    alerts: list[AlertOut]


class SubjectIn(Schema):
    model_config = ConfigDict(extra="forbid")
    subject: str = SUBJECT


class SilenceIn(SubjectIn):
    until: datetime = Field(description="ISO 8601 with a UTC offset; in the future, at most a year ahead.")


class PolicyIn(SubjectIn):
    alert_after: int | None = Field(None, description="1 to 1000; null: the family's default (1 or 3).")
    remind_every_minutes: float | None = Field(None, description="1 minute to a year; null: no reminders.")
    notify_recovery: bool = True
    expect_every_minutes: float | None = Field(None, description="Jobs only: 1 minute to a year; null: off.")
    expect_grace_minutes: float | None = Field(None, description="Jobs only: 0 to a year.")


def _minutes(period: Any) -> float | None:
    return period.total_seconds() / 60 if period is not None else None


def _out(watch: Watch) -> dict[str, Any]:
    family, _ident = alerts.split(watch.subject)
    fields = [
        "subject",
        "name",
        "state",
        "failures",
        "failing_since",
        "alerted_at",
        "last_error",
        "acknowledged_at",
        "acknowledged_by",
        "silenced_by",
    ]
    silenced = watch.silenced_until if watch.silenced_until and watch.silenced_until > timezone.now() else None
    return {
        **{name: getattr(watch, name) for name in fields},
        "silenced_until": silenced,
        "link": views_alerts.link_of(watch.subject),
        "policy": {
            "alert_after": watch.alert_after,
            "alert_after_default": family.alert_after(),
            "remind_every_minutes": _minutes(watch.remind_every),
            "notify_recovery": watch.notify_recovery,
            "expect_every_minutes": _minutes(watch.expect_every),
            "expect_grace_minutes": _minutes(watch.expect_grace),
        },
    }


def _watch(subject: str) -> Watch:
    """The subject's Watch; one for an object that exists and never failed is made (a silence ahead)."""
    watch = Watch.objects.filter(subject=subject).first()
    if watch is not None:
        return watch
    named = views_alerts.object_of(subject)
    if named is None:
        raise not_found()
    return alerts.watch_for(subject, named[0])


def _act(request: HttpRequest, subject: str, data: dict[str, Any]) -> Status[dict[str, Any]]:
    who = require(request, RESOURCE, write=True)
    watch = _watch(subject)
    with translation.override("en"):
        form = ActionForm(data)
        if not form.is_valid():
            raise invalid({name: [str(m) for m in messages] for name, messages in form.errors.items()})
        form.apply(watch, f"api:{who.name}")
    watch.refresh_from_db()
    return Status(200, _out(watch))


@router.get(
    "/alerts",
    response={200: AlertList, **LIST_ERRORS},
    summary="Open alerts",
    description=(
        "Scope queue:read. Every watched object that is failing, alerting or silenced (`state`: only the alerting "
        "ones, or only the silenced ones), alerting first; at most 500."
    ),
    operation_id="list_alerts",
)
def list_alerts(request: HttpRequest, state: Literal["all", "alerting", "silenced"] = "all") -> Status[dict[str, Any]]:
    require(request, RESOURCE)
    watches = views_alerts.open_watches(state, timezone.now())[: views_alerts.LIMIT]
    return Status(200, {"alerts": [_out(watch) for watch in watches]})


@router.post(
    "/alerts/acknowledge",
    response={200: AlertOut, 404: ErrorOut, **WRITE_ERRORS},
    summary="Acknowledge an alert",
    description="Scope queue:write. No more reminders for the open alert (a new failure after a recovery alerts).",
    operation_id="acknowledge_alert",
)
def acknowledge_alert(request: HttpRequest, payload: SubjectIn) -> Status[dict[str, Any]]:
    return _act(request, payload.subject, {"do": "acknowledge"})


@router.post(
    "/alerts/silence",
    response={200: AlertOut, 404: ErrorOut, **WRITE_ERRORS},
    summary="Silence an object's alerts",
    description="Scope queue:write. Nothing is sent about the object until `until`; its state still moves.",
    operation_id="silence_alert",
)
def silence_alert(request: HttpRequest, payload: SilenceIn) -> Status[dict[str, Any]]:
    return _act(request, payload.subject, {"do": "until", "until": payload.until.isoformat()})


@router.post(
    "/alerts/unsilence",
    response={200: AlertOut, 404: ErrorOut, **WRITE_ERRORS},
    summary="Unsilence an object's alerts",
    description="Scope queue:write. Ends the object's silence.",
    operation_id="unsilence_alert",
)
def unsilence_alert(request: HttpRequest, payload: SubjectIn) -> Status[dict[str, Any]]:
    return _act(request, payload.subject, {"do": "unsilence"})


API_FIELDS = {  # the form's field -> the API's
    "alert_after": "alert_after",
    "remind_minutes": "remind_every_minutes",
    "remind_every": "remind_every_minutes",
    "notify_recovery": "notify_recovery",
    "expect_every": "expect_every_minutes",
    "expect_grace": "expect_grace_minutes",
}


@router.put(
    "/alerts/policy",
    response={200: AlertOut, 404: ErrorOut, **WRITE_ERRORS},
    summary="Set an object's alert policy",
    description=(
        "Scope queue:write. The whole policy (a field left out takes its default); the dashboard's rules and "
        "messages. Jobs, sources, people and channels; a source's or a person's check job has none of its own "
        "(404: set it on the source or the person). The alert's state is not touched."
    ),
    operation_id="set_alert_policy",
)
def set_alert_policy(request: HttpRequest, payload: PolicyIn) -> Status[dict[str, Any]]:
    require(request, RESOURCE, write=True)
    named = views_alerts.object_of(payload.subject)
    if named is None or not named[1]:
        raise not_found()
    family, _ident = alerts.split(payload.subject)
    if family.prefix != "job" and (
        payload.expect_every_minutes is not None or payload.expect_grace_minutes is not None
    ):
        raise invalid({"expect_every_minutes": ["Only jobs have a dead man's switch."]})
    data = {
        "alert_after": "" if payload.alert_after is None else str(payload.alert_after),
        "remind_minutes": "" if payload.remind_every_minutes is None else str(payload.remind_every_minutes),
        "notify_recovery": "on" if payload.notify_recovery else "",
        "expect_every": "" if payload.expect_every_minutes is None else str(payload.expect_every_minutes),
        "expect_every_unit": "minutes",
        "expect_grace": "" if payload.expect_grace_minutes is None else str(payload.expect_grace_minutes),
        "expect_grace_unit": "minutes",
    }
    with translation.override("en"):
        form = PolicyForm(payload.subject, data)
        if not form.is_valid():
            errors: dict[str, list[str]] = {}
            for name, messages in form.errors.items():
                errors.setdefault(API_FIELDS.get(name, name), []).extend(str(m) for m in messages)
            raise invalid(errors)
    return Status(200, _out(form.save(named[0])))
