"""Jobs whose schedule another object manages: `Job.owner` names it ("source:12").

The owning app registers a resolver for its prefix (scrapers registers "source"), so the Jobs pages and
the admin can name and link the owner, show the fields it writes read-only, and refuse to delete or copy
the job on its own — without the scheduler importing that app. Pausing and resuming stay one path
(scheduler.services.pause / resume); the owner follows them through signals.jobs_paused / jobs_resumed.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from scheduler.models import Job

# The job fields an owner writes unless it says otherwise: what the job does, its schedule and its pause
# state (pause and resume with the buttons, which keep the owner in step).
MANAGED = (
    "name",
    "kind",
    "params",
    "schedule_type",
    "cron",
    "timezone",
    "interval_seconds",
    "run_at",
    "start_at",
    "end_at",
    "max_occurrences",
    "enabled",
)


@dataclass(frozen=True)
class Owner:
    """What the Jobs pages show about the object that manages a job."""

    key: str  # Job.owner, e.g. "source:12"
    label: str  # in the operator's language, e.g. 'source “Tasks”'
    url: str = ""  # its dashboard page
    admin_url: str = ""  # its admin page
    fields: tuple[str, ...] = MANAGED  # the job fields it writes: read-only on the Jobs pages
    refusal: str = ""  # why the job cannot be deleted on its own, and what to do instead

    @property
    def delete_refusal(self) -> str:
        return self.refusal or _("This job belongs to %(owner)s: delete it there instead.") % {"owner": self.label}


_resolvers: dict[str, Callable[[str], Owner | None]] = {}
_kinds: dict[str, "StrOrPromise"] = {}


def register(
    prefix: str, resolve: Callable[[str], Owner | None], kinds: Mapping[str, "StrOrPromise"] | None = None
) -> None:
    """`resolve(pk_text)` returns the Owner of jobs whose owner is "<prefix>:<pk>", or None when that object
    no longer exists. `kinds` maps the job kinds only an owner creates to the message that refuses a new
    job of that kind on the Jobs pages (the owner would not know of it: a second schedule)."""
    _resolvers[prefix] = resolve
    _kinds.update(kinds or {})


def of(job: "Job | None") -> Owner | None:
    """The job's Owner, or None for a job nobody manages (or whose owner is gone or not installed)."""
    if job is None or not getattr(job, "owner", ""):
        return None
    prefix, _sep, pk = job.owner.partition(":")
    resolve = _resolvers.get(prefix)
    return resolve(pk) if resolve else None


def clean_kind(kind: str, instance: "Job") -> str:
    """A job form's kind, refused when only an owner makes jobs of it (check_source: a source's one
    schedule) and this job is new or changed to it: the owner would not know of it."""
    refusal = _kinds.get(kind)
    if refusal and not instance.owner and (instance.pk is None or kind != instance.kind):
        raise ValidationError(refusal)
    return kind
