"""The apps' own jobs (external_service="vigia"): their names in the operator's language.

Each app declares its system jobs' specs (scheduler.services.ensure_jobs) and wraps each in `declare`, which
records a translated label under the spec's external_key. The stored Job.name stays as it was (operators may
rename a job; the API and imports key on it); pages show `display_name(job)` instead.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scheduler.shared.recorded import Catalog

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from scheduler.models import Job

SERVICE = "vigia"  # Job.external_service of the jobs the apps create themselves

_labels: dict[str, "StrOrPromise"] = {}
# The names the apps give the jobs they make for their objects ("Source #12: Tasks"), stored in English and
# shown in the reader's language: each app declares its with made_name(gettext_noop("Source #%(id)s: %(name)s")).
_made_names = Catalog()
made_name = _made_names.message


def declare[S: Mapping[str, Any]](label: "StrOrPromise", spec: S) -> S:
    """Record `label` (a gettext_lazy string) as the display name of the system job `spec` declares, and
    return the spec unchanged for ensure_jobs."""
    _labels[str(spec["external_key"])] = label
    return spec


def is_system(job: "Job") -> bool:
    return job.external_service == SERVICE


def display_name(job: "Job") -> "StrOrPromise":
    """A system job's translated name when its app declared one, a job an app made for one of its objects under
    its name in the reader's language, otherwise the job's own name."""
    # Read without loading deferred fields: a list that selected only the name gets no query per row.
    fields = job.__dict__
    if fields.get("external_service") == SERVICE and fields.get("external_key") in _labels:
        return _labels[fields["external_key"]]
    return _made_names.translated(job.name)


def labels() -> dict[str, "StrOrPromise"]:
    """external_key → label of every declared system job (for pages and tests)."""
    return dict(_labels)
