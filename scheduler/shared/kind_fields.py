"""A registry kind's settings shown as that kind's own form fields, not as a JSON text box.

The parent form (a job's `params`, a source's or a channel's `config`) declares a KindSettingsField. It renders the
chosen kind's form (`Params`/`Config`) with the field's name as prefix (`config-url`), each input with its label,
help text and the errors the registry reported for it (add_nested_errors keeps them by setting). On POST its widget
reads those inputs back into the dict the parent form already validates with the registry's `clean`, so the
dashboard, the admin, the API and the imports keep one validation.

Three ways a value arrives, told apart by what was posted:
- the page's fields: a hidden `<name>_fields` marks the block; empty inputs are left out, as JSON would;
- "Edit as JSON": the `<name>_as_json` checkbox is ticked; the `<name>` textarea is read instead;
- anything else (the API, the imports, a test posting `config` as JSON): the `<name>` value as before.

Secrets (a kind's `secret_fields`, channels') are write-only inputs in the same block that never render a value
and say whether one is stored; the parent form reads them with a KindSecretsInput. Nothing here imports another app:
the page that swaps the fields when the kind changes lives in the composition root (config.views.kind_fields).
"""

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from django import forms
from django.forms.boundfield import BoundField
from django.forms.renderers import BaseRenderer
from django.template.loader import render_to_string
from django.urls import reverse_lazy
from django.utils.safestring import SafeString

from scheduler.shared import bounds
from scheduler.shared.kind_registry import Registry, nested_errors

FIELDS_MARKER = "_fields"  # hidden input `<name>_fields`: the block's fields were posted
AS_JSON = "_as_json"  # checkbox `<name>_as_json`: read the JSON textarea `<name>` instead
EMPTY: tuple[object, ...] = (None, "", [], {})
TEMPLATE = "_kind_fields.html"
URL_NAME = "kind_fields"  # config.kinds: /kinds/<endpoint>/fields/?kind=<name>

Mode = Literal["fields", "json", "value"]


def posted_mode(data: Mapping[str, Any], name: str) -> Mode:
    """How `data` gives the settings `name`: its fields, its ticked JSON textarea, or a plain value."""
    if name + AS_JSON in data:
        return "json"
    return "fields" if name + FIELDS_MARKER in data else "value"


def secret_names(entry: object) -> tuple[str, ...]:
    return tuple(getattr(entry, "secret_fields", ()) or ())


def _settings_form(registry: Registry, entry: object, **kwargs: Any) -> forms.BaseForm:
    form: forms.BaseForm = getattr(entry, registry.form)(**kwargs)
    return form


def _read(
    registry: Registry, data: Mapping[str, Any], files: Any, name: str, kind: str, secret: bool
) -> dict[str, Any]:
    """The public settings (or, `secret`, the secrets) of kind `kind` typed in the `<name>-<setting>` inputs,
    raw as posted (the registry's clean converts them); empty ones left out."""
    entry = registry.find(kind)
    if entry is None:
        return {}
    form = _settings_form(registry, entry, prefix=name)
    secrets = secret_names(entry)
    found: dict[str, Any] = {}
    for key, field in form.fields.items():
        if (key in secrets) is secret:
            value = field.widget.value_from_datadict(data, files, form.add_prefix(key))
            if value not in EMPTY:
                found[key] = value
    return found


class KindSettingsWidget(forms.Widget):
    """Reads the settings back (KindSettingsField's bound field renders them)."""

    def __init__(self, registry: Registry, kind_field: str = "kind", attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.registry, self.kind_field = registry, kind_field

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        if posted_mode(data, name) != "fields":
            return data.get(name)
        return _read(self.registry, data, files, name, str(data.get(self.kind_field) or ""), secret=False)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and name + FIELDS_MARKER not in data

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: BaseRenderer | None = None
    ) -> SafeString:  # used only without the bound field (a bare widget): the JSON textarea
        return forms.Textarea().render(name, value, attrs, renderer)


class KindSecretsInput(forms.Widget):
    """The parent form's write-only secrets field: reads the chosen kind's secrets from the password inputs of the
    settings block `settings` (or a posted `secrets` JSON object, the legacy way); renders nothing itself."""

    def __init__(self, registry: Registry, settings: str = "config", kind_field: str = "kind") -> None:
        super().__init__()
        self.registry, self.settings, self.kind_field = registry, settings, kind_field

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        if self.settings + FIELDS_MARKER not in data:
            return data.get(name)
        typed = _read(self.registry, data, files, self.settings, str(data.get(self.kind_field) or ""), secret=True)
        return typed or None  # none typed: unchanged (the stored ones are kept)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and self.settings + FIELDS_MARKER not in data

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: BaseRenderer | None = None
    ) -> SafeString:
        return SafeString("")  # never a value: the settings block shows the inputs, empty


class WriteOnlyTextarea(forms.Textarea):
    """A secret typed on several lines (Apprise URLs): always renders empty."""

    def format_value(self, value: Any) -> None:
        return None


class KindSettingsField(bounds.JSONField):
    """A registry kind's settings: a dict (or JSON text) validated by the parent form with the registry's clean,
    shown as the kind's own fields. `endpoint` names it in the fields-swapping page's URL; `secrets_field` is the
    parent's write-only field whose inputs show in the same block (channels)."""

    def __init__(
        self,
        registry: Registry,
        *,
        endpoint: str,
        kind_field: str = "kind",
        secrets_field: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("widget", KindSettingsWidget(registry, kind_field))
        super().__init__(**kwargs)
        self.registry, self.endpoint, self.kind_field = registry, endpoint, kind_field
        self.secrets_field = secrets_field
        # The names of the secrets stored now (for "set"/"not set"); None: unknown, nothing said.
        self.secrets_set: Callable[[], Collection[str]] | None = None

    def get_bound_field(self, form: forms.BaseForm, field_name: str) -> BoundField:
        return KindSettingsBoundField(form, self, field_name)


class KindSettingsBoundField(BoundField):
    field: KindSettingsField

    def as_widget(
        self, widget: forms.Widget | None = None, attrs: Any = None, only_initial: bool = False
    ) -> SafeString:
        form, field, name = self.form, self.field, self.html_name
        kind = str(form[field.kind_field].value() or "") if field.kind_field in form.fields else ""
        bound = form.is_bound and not field.disabled
        mode: Mode | None = posted_mode(form.data, name) if bound else None
        if mode == "fields":
            values: Any = field.widget.value_from_datadict(form.data, form.files, name)
        elif mode is None:
            values = self.initial
        else:
            values = form.data.get(name)
        errors = [str(error) for error in self.errors]
        if field.secrets_field and field.secrets_field in form.fields:
            secret_errors = nested_errors(form, field.secrets_field)
            errors_on_secrets = [str(error) for error in form[field.secrets_field].errors]
        else:
            secret_errors, errors_on_secrets = {}, []
        return render(
            field,
            name,
            kind,
            auto_id=form.auto_id if isinstance(form.auto_id, str) else "",
            values=values,
            data=form.data if mode == "fields" else None,
            files=form.files,
            as_json=mode in ("json", "value"),
            errors=errors,
            setting_errors={**nested_errors(form, self.name), **secret_errors},
            secret_field_errors=errors_on_secrets,
            secrets_set=field.secrets_set() if field.secrets_set else None,
        )


def render(
    field: KindSettingsField,
    name: str,
    kind: str,
    *,
    auto_id: str = "id_%s",
    values: Any = None,
    data: Mapping[str, Any] | None = None,
    files: Any = None,
    as_json: bool = False,
    errors: Sequence[str] = (),
    setting_errors: Mapping[str, Sequence[str]] | None = None,
    secret_field_errors: Sequence[str] = (),
    secrets_set: Collection[str] | None = None,
) -> SafeString:
    """The settings block of kind `kind` for the parent field `name`: its fields (from `data` as posted, else from
    `values`), the "Edit as JSON" textarea, the write-only secrets. `errors` are the parent field's own."""
    registry, setting_errors = field.registry, setting_errors or {}
    entry = registry.find(kind)
    all_secrets = {key for other in registry.names() for key in secret_names(registry.get(other))}
    parsed = _as_dict(values)
    fields: list[dict[str, Any]] = []
    secrets: list[dict[str, Any]] = []
    shown: set[str] = set()
    if entry is not None:
        # No `required` attribute: hidden while "Edit as JSON" is ticked, an empty required input would stop the
        # browser from posting (the admin validates in the browser); the registry's clean says what is missing.
        shown_as = {"prefix": name, "auto_id": auto_id, "use_required_attribute": False}
        if data is not None:
            form = _settings_form(registry, entry, data=data, files=files, **shown_as)
        else:
            public = {key: masked_url(value) for key, value in parsed.items() if key not in all_secrets}
            form = _settings_form(registry, entry, initial=public, **shown_as)
        for key, sub in form.fields.items():
            sub.disabled = sub.disabled or field.disabled
            own = list(setting_errors.get(key, ()))
            if key in secret_names(entry):
                sub.widget = (
                    WriteOnlyTextarea(attrs={"rows": 2, "autocomplete": "off"})
                    if isinstance(sub.widget, forms.Textarea)
                    else forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
                )
                is_set = None if secrets_set is None else key in secrets_set
                secrets.append({"field": form[key], "key": key, "errors": own, "is_set": is_set})
            else:
                fields.append({"field": form[key], "key": key, "errors": own})
            shown.update(f"{key}: {message}" for message in own)
    context = {
        "name": name,
        "id": (auto_id % name) if auto_id else name,
        "label": field.label,
        "help_text": field.help_text,
        "kind": entry,
        "fields": fields,
        "secrets": secrets,
        "disabled": field.disabled,
        "as_json": as_json,
        "json_text": _json_text(values, parsed, all_secrets),
        "errors": errors,
        "general_errors": [error for error in errors if error not in shown],
        "secret_errors": [error for error in secret_field_errors if error not in shown],
        "fields_marker": name + FIELDS_MARKER,
        "as_json_name": name + AS_JSON,
    }
    return SafeString(render_to_string(TEMPLATE, context))


def _as_dict(values: Any) -> dict[str, Any]:
    if isinstance(values, str):
        try:
            values = bounds.load_json(values) if values.strip() else {}
        except ValueError:
            return {}
    return dict(values) if isinstance(values, dict) else {}


def _json_text(values: Any, parsed: dict[str, Any], secrets: set[str]) -> str:
    """The JSON textarea's text: the settings without any secret (one typed there by mistake is refused, never
    shown back); unparsable text as typed, unless it seems to hold a secret."""
    if isinstance(values, str) and not isinstance(_loads(values), dict):
        return "" if any(f'"{key}"' in values for key in secrets) else values
    public = {key: masked_url(value) for key, value in parsed.items() if key not in secrets}
    return json.dumps(public, ensure_ascii=False, indent=2) if public else "{}"


def masked_url(value: Any) -> Any:
    """A setting as shown: an address saved with a password inside (before addresses refused them) shows
    ******** in its place; anything else as it is."""
    if not isinstance(value, str) or "@" not in value or "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:********@{host}"))


def _loads(text: str) -> Any:
    try:
        return bounds.load_json(text)
    except ValueError:
        return None


def follow_kind(form: forms.BaseForm, name: str) -> None:
    """Make the parent form's kind select swap the settings block `name` for the chosen kind's (HTMX). Without
    JavaScript, saving with the new kind shows its fields, with errors for the settings it requires."""
    field = form.fields[name]
    assert isinstance(field, KindSettingsField)
    block = (form.auto_id % form.add_prefix(name)) if isinstance(form.auto_id, str) else form.add_prefix(name)
    form.fields[field.kind_field].widget.attrs.update(
        {
            "hx-get": reverse_lazy(URL_NAME, args=[field.endpoint]),
            "hx-target": f"#{block}_settings",
            "hx-trigger": "change",
            "hx-swap": "outerHTML",
            "hx-sync": "this:replace",
        }
    )
