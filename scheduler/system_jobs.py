"""The apps' own jobs (external_service="vigia"): their names in the operator's language.

Each app declares its system jobs' specs (scheduler.services.ensure_jobs) and wraps each in `declare`, which
records a translated label under the spec's external_key. The stored Job.name stays as it was (operators may
rename a job; the API and imports key on it); pages show `display_name(job)` instead.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from scheduler.models import Job

SERVICE = "vigia"  # Job.external_service of the jobs the apps create themselves

_labels: dict[str, "StrOrPromise"] = {}


def declare[S: Mapping[str, Any]](label: "StrOrPromise", spec: S) -> S:
    """Record `label` (a gettext_lazy string) as the display name of the system job `spec` declares, and
    return the spec unchanged for ensure_jobs."""
    _labels[str(spec["external_key"])] = label
    return spec


def is_system(job: "Job") -> bool:
    return job.external_service == SERVICE


def display_name(job: "Job") -> "StrOrPromise":
    """A system job's translated name when its app declared one, otherwise the job's own name."""
    if job.external_service == SERVICE and job.external_key in _labels:
        return _labels[job.external_key]
    return job.name


def labels() -> dict[str, "StrOrPromise"]:
    """external_key → label of every declared system job (for pages and tests)."""
    return dict(_labels)
