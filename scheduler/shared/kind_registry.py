"""One registry per extension point (job kinds, scraper kinds, channel kinds), all with the same shape.

An entry is a class with a `name`, a `label` and an inner Django form (`Params`, `Config`...) that validates
its settings; registering it stores one instance. `clean(name, data)` validates settings so that the admin,
the commands, the imports and the API report the same field errors, keyed `<field>.<setting>`.
"""

from typing import TYPE_CHECKING, Any, Generic, Protocol

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy
from typing_extensions import TypeVar

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# (not a JSON object, unknown keys) as whole sentences per noun: "noun" + "s" could not be translated.
NOUN_MESSAGES = {
    "parameter": (
        gettext_lazy("The parameters must be a JSON object."),
        ngettext_lazy("Unknown parameter: %(names)s.", "Unknown parameters: %(names)s.", "n"),
    ),
    "setting": (
        gettext_lazy("The settings must be a JSON object."),
        ngettext_lazy("Unknown setting: %(names)s.", "Unknown settings: %(names)s.", "n"),
    ),
}


class Entry(Protocol):
    """What a registry holds: a class with a `name` (and a `label`), instantiated without arguments."""

    name: str

    @property
    def label(self) -> "StrOrPromise": ...


REGISTRIES: dict[str, "Registry[Any]"] = {}  # by `what`: pages name a kind in words (the kind_label filter)

# The entries' class: `Registry[JobKind](...)` types get() and find(); a plain `Registry(...)` holds Any.
EntryT = TypeVar("EntryT", bound=Entry, default=Any)


class Registry(Generic[EntryT]):
    def __init__(self, what: str, form: str, field: str, noun: str) -> None:
        # e.g. Registry("job kind", form="Params", field="params", noun="parameter")
        self.what, self.form, self.field, self.noun = what, form, field, noun
        self._entries: dict[str, EntryT] = {}
        REGISTRIES[what] = self

    def label(self, name: str) -> "StrOrPromise":
        """An entry's label in the reader's language ("Requisição HTTP"), or the name itself when unknown."""
        entry = self._entries.get(name)
        return (entry.label or name) if entry is not None else name

    def register(self, cls: type[EntryT]) -> type[EntryT]:
        """Class decorator: `@registry.register class Ping(...): name = "ping"`."""
        if not cls.name:
            raise ValueError(f"{cls.__name__} needs a name")
        current = self._entries.get(cls.name)
        if current is not None and type(current) is not cls:
            raise ValueError(f"{self.what} {cls.name!r} is already registered by {type(current).__name__}")
        self._entries[cls.name] = cls()
        return cls

    def get(self, name: str) -> EntryT:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.what} {name!r}") from None

    def find(self, name: str) -> EntryT | None:
        """The entry, or None when nothing by that name is registered (no KeyError to confuse with a bug's)."""
        return self._entries.get(name)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def choices(self) -> list[tuple[str, "StrOrPromise"]]:
        return [(name, self._entries[name].label or name) for name in self.names()]

    def clean_name(self, name: str) -> str:
        """`name` when an entry has it, else a ValidationError listing the names that exist (a form's
        `clean_kind`: a ChoiceField's generic message would not list them)."""
        if name not in self._entries:
            raise ValidationError(
                _("Unknown kind '%(kind)s'. Choose one of: %(kinds)s."),
                params={"kind": name, "kinds": ", ".join(self.names())},
            )
        return name

    def clean(self, name: str, data: object) -> dict[str, Any]:
        """The validated settings of entry `name`, or ValidationError keyed by field."""
        try:
            self.clean_name(name)
        except ValidationError as exc:
            raise ValidationError({"kind": exc.messages}) from None
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise ValidationError({self.field: str(self._message(0, f"The {self.noun}s must be a JSON object."))})
        form = getattr(self._entries[name], self.form)(data=data)
        if not form.is_valid():
            errors: dict[str, list[str]] = {}
            for key, messages in form.errors.items():
                errors.setdefault(self.field if key == "__all__" else f"{self.field}.{key}", []).extend(messages)
            raise ValidationError(errors)
        unknown = sorted(set(data) - set(form.fields))
        if unknown:
            message = self._message(1, f"Unknown {self.noun}(s): %(names)s.")
            raise ValidationError({self.field: message % {"names": ", ".join(unknown), "n": len(unknown)}})
        return {key: value for key, value in form.cleaned_data.items() if value not in (None, "", [], {})}

    def _message(self, which: int, fallback: str) -> "StrOrPromise":
        """The translated sentence for this registry's noun, or `fallback` (English) for another noun."""
        messages = NOUN_MESSAGES.get(self.noun)
        return messages[which] if messages else fallback  # a plural one is formatted (with "n") by the caller


NESTED_ERRORS = "nested_errors"  # the form attribute add_nested_errors fills: {field: {setting: [messages]}}


def add_nested_errors(form: forms.BaseForm, field: str, error: ValidationError) -> None:
    """Show a registry's `params.url`-style errors on the form's `field`, each prefixed by its setting; they are
    also kept by setting (nested_errors) for pages that show each under its own input (kind_fields)."""
    nested = vars(form).setdefault(NESTED_ERRORS, {}).setdefault(field, {})
    for key, messages in error.message_dict.items():
        setting = key.removeprefix(field).removeprefix(".")
        for message in messages:
            form.add_error(field if key.startswith(field) else key, f"{setting}: {message}" if setting else message)
            if setting and key.startswith(f"{field}."):
                nested.setdefault(setting, []).append(message)


def nested_errors(form: forms.BaseForm, field: str) -> dict[str, list[str]]:
    """{setting: [messages]} that add_nested_errors put on the form's `field`."""
    found: dict[str, dict[str, list[str]]] = vars(form).get(NESTED_ERRORS, {})
    return found.get(field, {})
