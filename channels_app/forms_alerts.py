"""The forms of the alert pages (channels_app.views_alerts, the API and the admin reuse their rules): an object's
alert policy, and an operator's acknowledge / silence / unsilence.

Periods are typed as a number and a unit (minutes, hours, days); the rules are the Watch fields' own validators
(scheduler.shared.bounds): a reminder or a dead man's switch of at least a minute and at most a year, a grace of
zero or more."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app import alerts
from channels_app.models import Watch
from scheduler.shared import audit, bounds

MINUTES_IN = {"minutes": 1, "hours": 60, "days": 24 * 60}
UNITS = [
    ("minutes", gettext_lazy("minutes")),
    ("hours", gettext_lazy("hours")),
    ("days", gettext_lazy("days")),
]
OTHER = "other"
REMINDERS = [
    ("", gettext_lazy("Off")),
    ("15", gettext_lazy("15 min")),
    ("30", gettext_lazy("30 min")),
    ("60", gettext_lazy("1 h")),
    ("240", gettext_lazy("4 h")),
    ("1440", gettext_lazy("1 day")),
    (OTHER, gettext_lazy("Other (minutes typed below)")),
]
YEAR_MINUTES = 366 * 24 * 60
# The quick silences of the pages and the admin: (value, words, period).
SILENCES = [
    ("1h", gettext_lazy("Silence 1 h"), timedelta(hours=1)),
    ("4h", gettext_lazy("Silence 4 h"), timedelta(hours=4)),
    ("1d", gettext_lazy("Silence 1 day"), timedelta(days=1)),
]
SILENCE_FOR = {value: period for value, _words, period in SILENCES}


def _number_field(label: Any, **kwargs: Any) -> forms.DecimalField:
    field = forms.DecimalField(label=label, required=False, max_digits=12, decimal_places=2, **kwargs)
    field.widget.attrs.update({"step": "any", "inputmode": "decimal"})
    return field


def _period(value: Decimal | None, unit: str) -> timedelta | None:
    """`value` `unit`s as a period; ValidationError for one over a year (before timedelta could overflow)."""
    if value is None:
        return None
    minutes = value * MINUTES_IN.get(unit, 1)
    if minutes > YEAR_MINUTES:
        raise ValidationError(_("Choose at most a year."), code="too_long")
    return timedelta(minutes=float(minutes))


def _plain(number: Decimal) -> Decimal:
    """90, not 9E+1 (what Decimal.normalize() writes); 1.5 as 1.5."""
    return Decimal(int(number)) if number % 1 == 0 else number.normalize()


def _in_unit(period: timedelta | None) -> tuple[Decimal | None, str]:
    """A stored period as (number, unit) for the form: the largest unit that divides it."""
    if period is None:
        return None, "minutes"
    minutes = Decimal(int(period.total_seconds())) / 60
    for unit in ("days", "hours"):
        if minutes and minutes % MINUTES_IN[unit] == 0:
            return _plain(minutes / MINUTES_IN[unit]), unit
    return _plain(round(minutes, 2)), "minutes"


class PolicyForm(forms.Form):
    """An object's alert policy. Empty means the family's default: N from alerts.Family.alert_after, no
    reminders, no dead man's switch. `deadline`: the job fields "must succeed at least every" and its grace."""

    alert_after = forms.IntegerField(
        label=gettext_lazy("Alert after N failures in a row"),
        required=False,
        min_value=1,
        max_value=1000,
    )
    remind_every = forms.ChoiceField(label=gettext_lazy("Remind every"), choices=REMINDERS, required=False)
    remind_minutes = _number_field(gettext_lazy("Or every (minutes)"))
    notify_recovery = forms.BooleanField(label=gettext_lazy("Notify when it works again"), required=False)
    expect_every = _number_field(
        gettext_lazy("Must succeed at least every"),
        help_text=gettext_lazy("No success for this long (plus the grace) is an alert. Empty: off."),
    )
    expect_every_unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=UNITS, initial="hours", required=False)
    expect_grace = _number_field(gettext_lazy("Grace"))
    expect_grace_unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=UNITS, initial="minutes", required=False)

    def __init__(self, subject: str, *args: Any, watch: Watch | None = None, **kwargs: Any) -> None:
        self.subject, self.watch = subject, watch
        family, _ident = alerts.split(subject)
        self.deadline = family.prefix == "job"
        if watch is not None and "data" not in kwargs and not args:
            kwargs["initial"] = self.initial_of(watch)
        super().__init__(*args, **kwargs)
        self.fields["alert_after"].widget.attrs["placeholder"] = _("default: %(n)s") % {"n": family.alert_after()}
        if "initial" not in kwargs and not args and "data" not in kwargs:
            self.initial.setdefault("notify_recovery", True)
        if not self.deadline:
            for name in ("expect_every", "expect_every_unit", "expect_grace", "expect_grace_unit"):
                del self.fields[name]

    @staticmethod
    def initial_of(watch: Watch) -> dict[str, object]:
        initial: dict[str, object] = {"alert_after": watch.alert_after, "notify_recovery": watch.notify_recovery}
        if watch.remind_every:
            minutes = watch.remind_every.total_seconds() / 60
            preset = str(int(minutes)) if minutes == int(minutes) else ""
            if preset in dict(REMINDERS) and preset:
                initial["remind_every"] = preset
            else:
                initial["remind_every"] = OTHER
                initial["remind_minutes"] = _plain(Decimal(str(round(minutes, 2))))
        initial["expect_every"], initial["expect_every_unit"] = _in_unit(watch.expect_every)
        initial["expect_grace"], initial["expect_grace_unit"] = _in_unit(watch.expect_grace)
        if watch.expect_every is None:
            initial["expect_every_unit"] = "hours"
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None
        # The reminder: minutes typed win over the preset; "other" asks for them.
        typed, preset = data.get("remind_minutes"), data.get("remind_every") or ""
        remind: timedelta | None = None
        if "remind_minutes" not in self.errors:
            try:
                if typed is not None:
                    remind = _period(typed, "minutes")
                elif preset == OTHER:
                    self.add_error("remind_minutes", _("Type the minutes between reminders."))
                elif preset:
                    remind = timedelta(minutes=int(preset))
                bounds.at_least_a_minute(remind)
            except ValidationError as exc:
                self.add_error("remind_minutes" if typed is not None else "remind_every", exc)
        data["remind"] = remind
        if self.deadline:
            for name, check in (("expect_every", bounds.at_least_a_minute), ("expect_grace", None)):
                if name in self.errors:
                    continue
                try:
                    period = _period(data.get(name), data.get(f"{name}_unit") or "minutes")
                    (check or bounds.not_negative_duration)(period)
                except ValidationError as exc:
                    self.add_error(name, exc)
                    continue
                data[f"{name}_period"] = period
        return data

    def policy(self) -> dict[str, object]:
        """The Watch fields the valid form sets."""
        data = self.cleaned_data
        policy: dict[str, object] = {
            "alert_after": data.get("alert_after"),
            "remind_every": data.get("remind"),
            "notify_recovery": bool(data.get("notify_recovery")),
        }
        if self.deadline:
            policy["expect_every"] = data.get("expect_every_period")
            policy["expect_grace"] = data.get("expect_grace_period")
        return policy

    def save(self, name: str, now: datetime | None = None) -> Watch:
        """The subject's Watch (created when it has none) with this policy; its state is not touched."""
        return set_policy(self.subject, name, self.policy(), now=now)


def set_policy(subject: str, name: str, policy: dict[str, Any], now: datetime | None = None) -> Watch:
    """Store `policy` (Watch policy fields) on the subject's Watch, and nothing else of it: the state moves
    under its own lock (channels_app.alerts) and is not overwritten here. A new or changed dead man's switch
    counts from now (policy_set_at)."""
    now = now or timezone.now()
    watch = alerts.watch_for(subject, name)
    changes = dict(policy)
    if "expect_every" in changes and changes["expect_every"] != watch.expect_every:
        changes["policy_set_at"] = now
    before = {name: getattr(watch, name) for name in changes}
    Watch.objects.filter(pk=watch.pk).update(**changes, updated_at=now)
    audit.record_values(watch, before, changes)  # an update() sends no signal: who changed the policy
    remind = changes.get("remind_every")
    if remind:  # reminders turned on during an open alert: the first one a period from now
        Watch.objects.filter(
            pk=watch.pk, state=Watch.State.ALERTING, acknowledged_at__isnull=True, next_reminder_at__isnull=True
        ).update(next_reminder_at=now + remind)
    watch.refresh_from_db()
    return watch


class ActionForm(forms.Form):
    """Acknowledge, silence (for one of SILENCES, or until a moment) or unsilence one subject's alert."""

    ACTIONS = ["acknowledge", "unsilence", "until", *SILENCE_FOR]

    do = forms.ChoiceField(choices=[(name, name) for name in ACTIONS])
    until = forms.DateTimeField(
        label=gettext_lazy("Silence until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None
        if data.get("do") != "until":
            self.errors.pop("until", None)  # a moment typed, or half typed, beside another button: not used
            return data
        if "until" in self.errors:
            return data
        until = data.get("until")
        now = timezone.now()
        if until is None:
            self.add_error("until", _("Choose until when."))
        elif until <= now:
            self.add_error("until", _("Choose a moment in the future."))
        elif until > now + timedelta(days=366):
            self.add_error("until", _("Choose at most a year."))
        return data

    def until_moment(self, now: datetime | None = None) -> datetime | None:
        """When the silence ends (None: unsilence); only for the silences."""
        do = self.cleaned_data["do"]
        if do == "until":
            until: datetime = self.cleaned_data["until"]
            return until
        return (now or timezone.now()) + SILENCE_FOR[do]

    def apply(self, watch: Watch, who: str) -> str:
        """Do it; the words of what was done (for the page's note)."""
        do = self.cleaned_data["do"]
        if do == "acknowledge":
            alerts.acknowledge(watch, who)
            return _("Acknowledged: no more reminders for this alert.")
        if do == "unsilence":
            alerts.silence(watch, None, who)
            return _("Unsilenced.")
        until = self.until_moment()
        alerts.silence(watch, until, who)
        return _("Silenced until %(until)s.") % {"until": moment_words(until)}


def moment_words(moment: datetime | None) -> str:
    """A moment in the site's short format, on the reader's clock."""
    return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT") if moment else "—"
