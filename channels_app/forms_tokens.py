"""The API token form: the one validation of a new token's name, scopes, expiry and limits, shared by the
dashboard's tokens page, the admin and `create_api_token` (which binds it to its arguments).

The form only validates; `create()` makes the token through channels_app.tokens, which returns the raw token
and its callback secret to be shown once. A token is never edited afterwards: it is revoked and replaced.
"""

import re
from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_app import tokens
from channels_app.models import ApiToken, Channel
from scheduler.shared import bounds, roles
from scheduler.shared.api_callers import SCOPES

MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 300  # Message.to's length
MAX_RATE = 1_000_000
DURATION = re.compile(r"([0-9]{1,6})([hdw])")
UNITS = {"h": "hours", "d": "days", "w": "weeks"}

RESOURCES = {
    "jobs": gettext_lazy("jobs and their runs"),
    "people": gettext_lazy("monitored people and their publications"),
    "sources": gettext_lazy("sources and their items"),
    "messages": gettext_lazy("scheduled messages"),
    "queue": gettext_lazy("the queue"),
}


def scope_label(scope: str) -> str:
    resource, _sep, level = scope.partition(":")
    what = RESOURCES.get(resource, resource)
    text = _("read %(what)s") if level == "read" else _("read and change %(what)s")
    return f"{scope} — {text % {'what': what}}"


def scope_choices() -> list[tuple[str, str]]:
    return [(scope, scope_label(scope)) for scope in SCOPES]


# What each scope needs of its creator's role (roles.SCOPE_ACTIONS), in words, for the tokens page.
ACTION_LABELS = {
    None: gettext_lazy("any role"),
    "operate": gettext_lazy("operator or admin"),
    "see_documents": gettext_lazy("operator or admin (full CPF/CNPJ)"),
    "administer": gettext_lazy("admin"),
    "export": gettext_lazy("operator or admin (export)"),
}


def scope_roles() -> list[tuple[str, str, str]]:
    """(scope, what it allows, the role it needs), one per scope, for the table on the tokens page."""
    rows = []
    for scope in SCOPES:
        resource, _sep, level = scope.partition(":")
        needed = roles.SCOPE_ACTIONS[scope]
        if level == "write" and needed is None:
            needed = roles.SCOPE_ACTIONS.get(f"{resource}:read")
        what = RESOURCES.get(resource, resource)
        text = _("read %(what)s") if level == "read" else _("read and change %(what)s")
        rows.append((scope, text % {"what": what}, str(ACTION_LABELS.get(needed, needed))))
    return rows


def channel_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in Channel.objects.order_by("name").values_list("name", flat=True)]


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """`90d`, `12h`, `2w` from now; a date (`2027-01-31`: its first moment in TIME_ZONE); or an ISO 8601 date
    and time (with a UTC offset, or in TIME_ZONE). ValueError with the reason otherwise."""
    text = text.strip()
    now = now or timezone.now()
    if match := DURATION.fullmatch(text):
        amount = int(match[1])
        if amount < 1:
            raise ValueError(_("A duration of at least 1: 90d, 12h, 2w."))
        try:
            return now + timedelta(**{UNITS[match[2]]: amount})
        except OverflowError:
            raise ValueError(_("%(value)s is too far away.") % {"value": text}) from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            _("%(value)r is neither a duration (90d, 12h, 2w) nor a date (2027-01-31) or date and time.")
            % {"value": text}
        ) from None
    if len(text) <= 10:  # a date alone
        moment = datetime.combine(moment.date(), time())
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class PatternsField(forms.CharField):
    """fnmatch address patterns, one a line, as a list."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(map(str, value)) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]  # a list, not a str
        if isinstance(value, list | tuple):
            value = "\n".join(map(str, value))
        text = super().to_python(value) or ""
        return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))

    def validate(self, value: Any) -> None:
        super().validate(value)
        if len(value) > MAX_PATTERNS:
            raise ValidationError(_("At most %(limit)d patterns."), params={"limit": MAX_PATTERNS})
        for pattern in value:
            if problem := bounds.json_problem(pattern):
                raise ValidationError(problem)
            if len(pattern) > MAX_PATTERN_LENGTH:
                raise ValidationError(
                    _("A pattern of at most %(limit)d characters."), params={"limit": MAX_PATTERN_LENGTH}
                )


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=scope_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "What it may do; write implies read. None ticked: messages:read and messages:write, what every "
            "token could do before scopes existed."
        ),
        error_messages={
            "invalid_choice": format_lazy(
                "{} {}", gettext_lazy("Unknown scope %(value)s. The scopes are:"), ", ".join(SCOPES) + "."
            )
        },
    )
    expires_at = forms.DateTimeField(
        label=gettext_lazy("Expires at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=gettext_lazy("Empty: never. In the site's time zone."),
        validators=[bounds.check_date],
    )
    channels = forms.MultipleChoiceField(
        label=gettext_lazy("Channels"),
        choices=channel_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("The channels its messages may go through. None ticked: any channel."),
        error_messages={"invalid_choice": gettext_lazy("Unknown channel %(value)s.")},
    )
    addresses = PatternsField(
        label=gettext_lazy("Addresses"),
        required=False,
        help_text=gettext_lazy(
            "Where its messages may go: one pattern a line, * for any characters (5511*, *@example.org), "
            "matched against the address as the channel stores it. Empty: any address."
        ),
    )
    rate_per_minute = forms.IntegerField(
        label=gettext_lazy("Requests a minute"),
        required=False,
        min_value=1,
        max_value=MAX_RATE,
        help_text=gettext_lazy("Empty: the site's default (VIGIA_API_RATE_PER_MINUTE)."),
    )

    class Meta:
        model = ApiToken
        fields = ["name", "scopes", "expires_at", "channels", "addresses", "rate_per_minute"]
        labels = {"name": gettext_lazy("Name")}
        help_texts = {"name": gettext_lazy("Which client or service holds it (unique).")}

    # Who is creating it (a form made for a request: `user=`, or the admin's `for_user()`); None at the shell
    # (create_api_token), where every scope may be given.
    creator: Any = None

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            self.creator = user
        if not self.is_bound and "scopes" not in (kwargs.get("initial") or {}):
            self.initial["scopes"] = list(tokens.DEFAULT_SCOPES)

    @classmethod
    def for_user(cls, user: Any) -> "type[ApiTokenForm]":
        """This form bound to its creator, for the admin (which makes its form instances itself)."""
        return type(cls.__name__, (cls,), {"creator": user})

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if problem := bounds.json_problem(name):
            raise ValidationError(problem)
        return name

    def clean_scopes(self) -> list[str]:
        scopes = sorted(set(self.cleaned_data["scopes"])) or list(tokens.DEFAULT_SCOPES)
        if self.creator is not None:  # never beyond what the creator's own role allows (roles.SCOPE_ACTIONS)
            beyond = [scope for scope in scopes if not roles.scope_allowed(self.creator, scope)]
            if beyond:
                raise ValidationError(
                    _("Your role does not allow these scopes: %(scopes)s. A token may do no more than its creator.")
                    % {"scopes": ", ".join(beyond)}
                )
        return scopes

    def clean_expires_at(self) -> datetime | None:
        moment = self.cleaned_data["expires_at"]
        if moment is not None and moment <= timezone.now():
            raise ValidationError(_("A moment in the future (or empty: never)."))
        return moment

    def create(self) -> tuple[ApiToken, str]:
        """(the stored token, the raw token): show the raw token and token.callback_secret["secret"] now."""
        data = self.cleaned_data
        return tokens.create(
            data["name"],
            scopes=data["scopes"],
            expires_at=data["expires_at"],
            channels=sorted(data["channels"]),
            addresses=data["addresses"],
            rate_per_minute=data["rate_per_minute"],
            created_by=self.creator,
        )
