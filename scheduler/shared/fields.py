"""EncryptedJSONField: a JSON value stored as Fernet ciphertext in a text column (scheduler.shared.crypto).

Used by Channel.secrets, ApiCaller.callback_secret, Source.headers and Job.secrets (an http_request job's header
values); `manage.py rotate_secrets` re-encrypts every such column.

The column only ever holds ciphertext. A loaded row keeps it sealed until the attribute is read, so lists
of channels never decrypt, a save that does not touch the secrets writes the same ciphertext back, and a
value no key opens fails where it is used, with an error naming the row (never the ciphertext).

The value read back is a `Secrets` dict whose string values (nested dicts' too) are `SecretValue`s: ordinary
str and dict to the code using them, but their repr is masked, so a traceback's local variables (Django's 500 report, an
error tracker) show `{'token': '********'}` wherever the dict or a value taken from it travels; and the
values are handed to scheduler.shared.logs.remember_secrets, so log lines mask them even where they were copied.
"""

import copy
import json
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.query_utils import DeferredAttribute

from scheduler.shared import crypto
from scheduler.shared.logs import remember_secrets

MASK = "'********'"


class SecretValue(str):
    __slots__ = ()

    def __repr__(self) -> str:
        return MASK


class Secrets(dict):
    def __repr__(self) -> str:
        return "{" + ", ".join(f"{key!r}: {MASK}" for key in self) + "}"


def _masked(value: object) -> object:
    """The dict with its text values masked (those of nested dicts too: a job's {"headers": {...}})."""
    if isinstance(value, dict) and not isinstance(value, Secrets):
        # Log lines from this process mask these values from now on, whatever logs them (scheduler.shared.logs).
        remember_secrets(item for item in value.values() if isinstance(item, str))
        return Secrets(
            {
                key: SecretValue(item) if isinstance(item, str) else _masked(item) if isinstance(item, dict) else item
                for key, item in value.items()
            }
        )
    return value


class Sealed:
    """Ciphertext as loaded, not yet decrypted."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return "<encrypted>"

    def __eq__(self, other: object) -> bool:  # the same ciphertext (`values()` rows compared)
        return isinstance(other, Sealed) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)


class EncryptedDescriptor(DeferredAttribute):
    """Decrypts on first read (naming the row when it cannot), masks what is assigned."""

    def __get__(self, instance: Model | None, cls: type[Model] | None = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)  # loads a deferred field
        if isinstance(value, Sealed):
            what = f"secrets of {instance._meta.verbose_name_raw} '{instance}' (#{instance.pk})"
            sealed, value = value, _masked(json.loads(crypto.decrypt(value.token, what)))
            instance.__dict__[self.field.attname] = value
            # Saved again unchanged (a form writes back what it read), the same ciphertext goes back.
            instance.__dict__[_opened(self.field.attname)] = (sealed, copy.deepcopy(value))
        return value

    def __set__(self, instance: Model, value: object) -> None:
        instance.__dict__[self.field.attname] = _masked(value)


class EncryptedJSONField(models.TextField):
    # For django-stubs' mypy plugin: the model attribute takes and gives a dict (a TextField's would be str).
    # Without runtime generics (django_stubs_ext.monkeypatch) these are the way to say so; mypy sees overrides.
    _pyi_private_set_type: dict[str, Any]  # type: ignore[assignment]
    _pyi_private_get_type: dict[str, Any]  # type: ignore[assignment]

    descriptor_class = EncryptedDescriptor

    def from_db_value(self, value: str | None, expression: object, connection: BaseDatabaseWrapper) -> Sealed | None:
        return None if value is None else Sealed(value)

    def to_python(self, value: object) -> object:
        # Deserialized fixtures (dumpdata writes ciphertext) and model validation.
        if isinstance(value, Sealed):
            value = value.token
        if isinstance(value, str):
            return _masked(json.loads(crypto.decrypt(value)))
        return value

    def pre_save(self, model_instance: Model, add: bool) -> object:
        # Untouched secrets go back as they came: no decryption needed to save the rest of the row.
        return self._stored(model_instance)

    def get_prep_value(self, value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return value.token
        return crypto.encrypt(json.dumps(value, ensure_ascii=False))

    def value_to_string(self, obj: Model) -> str | None:  # type: ignore[override]  # None for a NULL column
        # dumpdata: ciphertext, never the plaintext.
        return self.get_prep_value(self._stored(obj))

    def _stored(self, instance: Model) -> object:
        """The value as held (Sealed when untouched since loading), loading it first if deferred."""
        if self.attname not in instance.__dict__:
            getattr(instance, self.attname)
        value = instance.__dict__[self.attname]
        opened = instance.__dict__.get(_opened(self.attname))
        if opened is not None and not isinstance(value, Sealed) and value == opened[1]:
            return opened[0]
        return value


def _opened(attname: str) -> str:
    """The instance attribute keeping (the ciphertext as loaded, its plaintext) once decrypted."""
    return f"_{attname}_opened"
