"""The kind select's helper page: the settings block of another kind (scheduler.shared.kind_fields), swapped in
by HTMX when the operator changes a job's, a source's or a channel's kind. Here, in the composition root, because
it names the three apps' forms. Any login may ask (LoginRequiredMiddleware): it shows fields, never values."""

from django import forms
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_safe

from channels_app.forms import ChannelForm
from scheduler.forms import JobForm
from scheduler.shared import kind_fields
from scheduler.shared.web import Request
from scrapers.sources.services import SourceForm

# endpoint → the parent form's settings field (its name is the inputs' prefix)
PARENTS: dict[str, tuple[type[forms.ModelForm], str]] = {
    "jobs": (JobForm, "params"),
    "sources": (SourceForm, "config"),
    "channels": (ChannelForm, "config"),
}


@require_safe
def kind_fields_view(request: Request, endpoint: str) -> HttpResponse:
    """GET /kinds/<endpoint>/fields/?kind=<name>: the block of kind `name` (empty for an unknown one), unfilled."""
    if endpoint not in PARENTS:
        raise Http404
    form_class, name = PARENTS[endpoint]
    field = form_class.base_fields[name]
    assert isinstance(field, kind_fields.KindSettingsField)
    html = kind_fields.render(field, name, str(request.GET.get("kind") or ""))
    return HttpResponse(html)
