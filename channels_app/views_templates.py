"""Message template pages: the list, the editor and its live preview with sample values
(MessageTemplateForm.preview; the output is plain text, escaped on the page)."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from channels_app import forms as channel_forms
from channels_app import rendering
from channels_app.models import MessageTemplate
from channels_app.views_common import done
from scheduler.shared import bounds
from scheduler.shared.web import Request, admin_required, render_page

TEMPLATE = "channels_app/template.html"


def template_list(request: Request) -> HttpResponse:
    rows = MessageTemplate.objects.order_by("name").only("pk", "name", "subject", "updated_at")
    custom = set(rows.values_list("name", flat=True))
    defaults = [name for name in rendering.EVENT_TYPES if name not in custom]
    context = {"title": _("Message templates"), "templates": rows, "defaults": defaults}
    return render_page(request, "channels_app/templates.html", context)


def _context(template: MessageTemplate | None, form: channel_forms.MessageTemplateForm) -> dict[str, object]:
    subject, text = form.preview()
    title = template.name if template else _("New template")
    return {"template": template, "form": form, "title": title, "subject": subject, "text": text}


@require_http_methods(["GET", "HEAD", "POST"])
def template_new(request: Request) -> HttpResponse:
    if request.method == "POST":
        return _save(request, None)
    # ?name=item.new starts from an event type's built-in wording.
    name = request.GET.get("name", "")
    initial: dict[str, str] = {}
    if name in rendering.DEFAULTS:
        subject, body = rendering.DEFAULTS[name]
        initial = {"name": name, "subject": subject, "body": body}
    form = channel_forms.MessageTemplateForm(initial=initial)
    context = _context(None, form)
    if initial:
        context["subject"], context["text"] = channel_forms.preview(name, initial["subject"], initial["body"])
    return render_page(request, TEMPLATE, context)


@require_http_methods(["GET", "HEAD", "POST"])
def template(request: Request, pk: int) -> HttpResponse:
    if request.method == "POST":
        return _save(request, pk)
    found = get_object_or_404(MessageTemplate, pk=pk)
    return render_page(request, TEMPLATE, _context(found, channel_forms.MessageTemplateForm(instance=found)))


@admin_required
def _save(request: Request, pk: int | None) -> HttpResponse:
    found = get_object_or_404(MessageTemplate, pk=pk) if pk else None
    form = channel_forms.MessageTemplateForm(request.POST, instance=found)
    if form.is_valid():
        saved = form.save()
        messages.success(request, _("Template “%(name)s” saved.") % {"name": saved.name})
        return done(request, reverse("channels_app:template", args=[saved.pk]))
    stored = MessageTemplate.objects.get(pk=pk) if pk else None
    context: dict[str, object] = {
        "template": stored,
        "form": form,
        "title": stored.name if stored else _("New template"),
    }
    if not request.htmx:
        context.update(_preview_of(form))
    return render_page(request, TEMPLATE, context, partial="template_form")


@admin_required
def template_preview(request: Request) -> HttpResponse:
    # The template being edited, if any: an id that is not one (typed, tampered) previews as a new template.
    # (pk=None finds nothing: the stubs take no None for pk)
    found = MessageTemplate.objects.filter(pk=bounds.parse_id(request.POST.get("template_id"))).first()  # type: ignore[misc]
    form = channel_forms.MessageTemplateForm(request.POST, instance=found)
    return render_page(request, TEMPLATE, _preview_of(form), partial="preview")


def _preview_of(form: channel_forms.MessageTemplateForm) -> dict[str, object]:
    """The preview of what was posted; while the subject or body does not compile, their errors instead."""
    if form.is_valid():
        subject, text = form.preview()
        return {"subject": subject, "text": text}
    errors = [error for field in ("subject", "body") for error in form.errors.get(field, [])]
    if errors:
        return {"subject": "", "text": "", "preview_errors": errors}
    # Only the name is wrong (empty, taken): the preview still shows what was typed.
    subject, text = channel_forms.preview(
        form.data.get("name", ""), form.cleaned_data["subject"], form.cleaned_data["body"]
    )
    return {"subject": subject, "text": text}


urls = [
    path("templates/", template_list, name="templates"),
    path("templates/new/", template_new, name="template_new"),
    path("templates/preview/", template_preview, name="template_preview"),
    path("templates/<int:pk>/", template, name="template"),
]
