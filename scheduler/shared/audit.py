"""The audit trail: who changed what and when (scheduler.models.AuditEntry), for every write a person makes in
the dashboard, the admin, the API and the commands.

- Who is acting lives in a context variable (`acting()`), set around each request by
  config.middleware.AuditMiddleware (via "dashboard" or "admin"; "api" with the token's name, filled in by the
  API's authentication through `identify()`) and around each management command a person runs (`Command`
  hook installed by SchedulerConfig.ready; the engine's own processes are left out). Work with no one acting
  (the scheduler, the workers, a check storing items) is never recorded.
- What is recorded: the models each app registers with `track("app_label.Model", ignore=[...])` from its own
  AppConfig.ready (this layer imports no other app; a label whose model does not exist is skipped). Their saves
  and deletes are recorded from Django's signals, with the changed fields as {field: [old, new]}; writes that
  bypass the signals (QuerySet.update in pause, resume, run now, force sync, imports) call `record()`.
- Secrets are never written: an encrypted field's value, and any field named like a secret, password, token,
  digest or headers, is "********" (a dict keeps its keys, each value masked).
"""

import contextlib
import contextvars
import getpass
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from django.db.models import Model
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

log = logging.getLogger("vigia.audit")

MASK = "********"
DASHBOARD, ADMIN, API, COMMAND = "dashboard", "admin", "api", "command"
CREATE, UPDATE, DELETE = "create", "update", "delete"
# The actions recorded, in words (the column keeps the name; a page shows the label).
ACTION_LABELS = {
    CREATE: gettext_lazy("created"),
    UPDATE: gettext_lazy("changed"),
    DELETE: gettext_lazy("deleted"),
    "pause": gettext_lazy("paused"),
    "resume": gettext_lazy("resumed"),
    "run now": gettext_lazy("run now"),
    "check now": gettext_lazy("check now"),
    "force sync": gettext_lazy("check all now"),
    "import": gettext_lazy("imported"),
    "deactivate": gettext_lazy("deactivated"),
    "revoke": gettext_lazy("revoked"),
    "acknowledge": gettext_lazy("acknowledged"),
    "silence": gettext_lazy("silenced"),
    "unsilence": gettext_lazy("unsilenced"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


# What the explicit records name that is not a model field (a bulk import's counts, the run a button queued).
COUNT_LABELS = {
    "created": gettext_lazy("Created"),
    "updated": gettext_lazy("Updated"),
    "run": gettext_lazy("Run"),
}


def field_label(object_type: str, name: str) -> str:
    """The field's verbose name (translated) when the model and field exist; else the name."""
    from django.apps import apps
    from django.core.exceptions import FieldDoesNotExist

    if name in COUNT_LABELS:
        return str(COUNT_LABELS[name])
    try:
        return str(apps.get_model(object_type)._meta.get_field(name).verbose_name)
    except (LookupError, ValueError, FieldDoesNotExist, AttributeError):
        return name


# Fields never worth a line: the engine's bookkeeping (each app adds its own with `track(ignore=...)`).
IGNORED = ("updated_at", "last_*", "next_*_at")
# Fields whose values are never written, whatever their type (encrypted fields always are).
SECRET_NAMES = ("*secret*", "*password*", "*token*", "digest", "*headers*", "*api_key*", "*credential*")
# Commands that are the engine itself or set up the database: what they write is not a person's change.
QUIET_COMMANDS = frozenset(
    {
        "qcluster",
        "scheduler",
        "runserver",
        "up",
        "migrate",
        "flush",
        "makemigrations",
        "collectstatic",
        "check",
        "test",
        "testserver",
        "bench",
        "compilemessages",
        "makemessages",
    }
)


@dataclass
class Actor:
    """Who is acting. `user` is resolved when something is recorded (a request's user is lazy); `name` is
    "token:<name>" or "command:<name>" when there is no user."""

    via: str
    user: Any = None
    name: str = ""
    os_user: str = ""
    action: str = ""  # a named action ("resume") that the saves made meanwhile are recorded as

    def label(self) -> tuple[str, Any]:
        """(actor text, the user or None); ("", None) for an anonymous request."""
        if self.name:
            return self.name, None
        user = self.user
        if user is not None and getattr(user, "is_authenticated", False):
            return str(user.get_username())[:200], user
        return "", None


_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("vigia_audit_actor", default=None)


def current() -> Actor | None:
    return _current.get()


@contextlib.contextmanager
def acting(actor: Actor | None) -> Iterator[Actor | None]:
    """Record the writes made inside as `actor`'s (None: record nothing)."""
    reset = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(reset)


@contextlib.contextmanager
def as_action(name: str) -> Iterator[None]:
    """The saves made inside are recorded as the named action ("resume") rather than "update"."""
    actor = current()
    if actor is None:
        yield
        return
    before, actor.action = actor.action, name
    try:
        yield
    finally:
        actor.action = before


def identify(name: str) -> None:
    """The API names its caller once it has authenticated it ("token:<name>")."""
    actor = current()
    if actor is not None:
        actor.name = name[:200]


def command_actor(name: str) -> Actor | None:
    """The actor of a management command a person runs; None for the engine's own (QUIET_COMMANDS)."""
    if name in QUIET_COMMANDS:
        return None
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        os_user = ""
    return Actor(via=COMMAND, name=f"command:{name}"[:200], os_user=os_user[:100])


# --- What is tracked ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tracked:
    label: str
    ignore: tuple[str, ...] = ()
    m2m: tuple[str, ...] = ()
    names: Callable[[Iterable[Model]], list[str]] = field(default=lambda objs: sorted(str(o) for o in objs))


_tracked: dict[str, Tracked] = {}


def track(label: str, ignore: Iterable[str] = (), m2m: Iterable[str] = ()) -> None:
    """Record the saves and deletes of the model `label` ("app_label.Model"), less the fields `ignore` names
    (shell-style patterns, added to IGNORED); `m2m` names many-to-many fields whose changes are recorded too
    (a user's groups). Called from an AppConfig.ready, when every model is loaded; a model that does not exist
    (yet) is skipped."""
    from django.apps import apps
    from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

    spec = Tracked(label, (*IGNORED, *ignore), tuple(m2m))
    _tracked[label.lower()] = spec
    try:
        model = apps.get_model(label)
    except LookupError:
        return
    uid = f"vigia-audit-{label}"
    # Per model, never for every sender: a post_delete receiver for all models would keep Django from deleting
    # runs and deliveries in bulk (its fast delete needs no listener).
    pre_save.connect(_before_save, sender=model, dispatch_uid=uid, weak=False)
    post_save.connect(_after_save, sender=model, dispatch_uid=uid, weak=False)
    post_delete.connect(_after_delete, sender=model, dispatch_uid=uid, weak=False)
    for name in spec.m2m:
        through = model._meta.get_field(name).remote_field.through
        m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"{uid}-{name}", weak=False)


def tracked_labels() -> list[str]:
    return sorted(_tracked)


def _spec(instance: Model) -> Tracked | None:
    return _tracked.get(instance._meta.label_lower)


# --- Values ------------------------------------------------------------------------------------------------
def is_secret(model_field: Any) -> bool:
    from scheduler.shared.fields import EncryptedJSONField

    name = getattr(model_field, "name", str(model_field)).lower()
    return isinstance(model_field, EncryptedJSONField) or any(fnmatchcase(name, p) for p in SECRET_NAMES)


def masked(value: Any) -> Any:
    """A secret as it may be written down: a dict keeps its keys (which headers), every value is MASK; empty
    stays empty (whether a secret is set is not a secret)."""
    if value in (None, "", {}, []):
        return plain(value)
    if isinstance(value, Mapping):
        return {str(key): masked(item) if isinstance(item, Mapping) else MASK for key, item in value.items()}
    return MASK


def plain(value: Any) -> Any:
    """A JSON value for the changes column."""
    if value is None or isinstance(value, bool | int | float | str):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, Decimal | Promise):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, Model):
        return value.pk
    return str(value)


def _ignored(name: str, spec: Tracked) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in spec.ignore)


def _fields(instance: Model, spec: Tracked) -> list[Any]:
    return [
        f
        for f in instance._meta.concrete_fields
        if not f.primary_key and not _ignored(f.name, spec) and not _ignored(f.attname, spec)
    ]


def _value(instance: Model, model_field: Any) -> Any:
    try:
        return model_field.value_from_object(instance)
    except Exception:  # noqa: BLE001 - a secret no key opens: compare what is stored
        return instance.__dict__.get(model_field.attname)


def _snapshot(instance: Model, spec: Tracked, only: Collection[str] | None = None) -> dict[str, Any]:
    return {
        f.name: _value(instance, f)
        for f in _fields(instance, spec)
        if only is None or f.name in only or f.attname in only
    }


def _shown(model_field: Any, value: Any) -> Any:
    return masked(value) if is_secret(model_field) else plain(value)


def diff(instance: Model, before: Mapping[str, Any], spec: Tracked) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields whose value changed, secrets masked (a changed secret shows as
    "********" → "********": that it changed, never what)."""
    changes: dict[str, list[Any]] = {}
    for f in _fields(instance, spec):
        if f.name not in before:
            continue
        old, new = before[f.name], _value(instance, f)
        if plain(old) != plain(new):
            changes[f.name] = [_shown(f, old), _shown(f, new)]
    return changes


# --- Signals ----------------------------------------------------------------------------------------------
def _before_save(sender: type[Model], instance: Model, update_fields: Collection[str] | None = None, **kw: Any) -> None:
    if current() is None or kw.get("raw"):
        return
    spec = _spec(instance)
    if spec is None or instance.pk is None or instance._state.adding:
        return
    old = type(instance)._base_manager.filter(pk=instance.pk).first()
    instance._vigia_audit_before = _snapshot(old, spec, update_fields) if old is not None else None  # type: ignore[attr-defined]


def _after_save(sender: type[Model], instance: Model, created: bool = False, **kw: Any) -> None:
    if current() is None or kw.get("raw"):
        return
    spec = _spec(instance)
    if spec is None:
        return
    before = instance.__dict__.pop("_vigia_audit_before", None)
    if created or before is None:
        changes = {
            f.name: [None, _shown(f, value)]
            for f in _fields(instance, spec)
            if (value := _value(instance, f)) not in (None, "", {}, [])
        }
        record(instance, CREATE, changes)
        return
    changes = diff(instance, before, spec)
    if changes:
        record(instance, UPDATE, changes)


def _after_delete(sender: type[Model], instance: Model, **kw: Any) -> None:
    if current() is not None:
        record(instance, DELETE)


def _m2m_changed(sender: Any, instance: Model, action: str, reverse: bool, **kw: Any) -> None:
    if current() is None or reverse:
        return
    spec = _spec(instance)
    if spec is None:
        return
    for name in spec.m2m:
        if instance._meta.get_field(name).remote_field.through is not sender:  # type: ignore[union-attr]
            continue
        related = getattr(instance, name)
        if action.startswith("pre_"):
            instance.__dict__[f"_vigia_audit_{name}"] = spec.names(related.all())
        elif action.startswith("post_"):
            old = instance.__dict__.pop(f"_vigia_audit_{name}", None)
            new = spec.names(related.all())
            if old is not None and old != new:
                record(instance, UPDATE, {name: [old, new]})


# --- Writing ------------------------------------------------------------------------------------------------
def record(
    obj: Model | None,
    action: str,
    changes: Mapping[str, Any] | None = None,
    *,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> Any:
    """One entry for `obj` (or the object named by object_type/object_id/object_repr, e.g. a bulk import's
    model and count) as the current actor's; nothing when no one is acting. Returns the entry or None."""
    actor = current()
    if actor is None:
        return None
    name, user = actor.label()
    if not name:
        return None  # an anonymous request (the login page): nothing of a person's to record
    from scheduler.models import AuditEntry

    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or ("" if obj.pk is None else str(obj.pk))
        try:
            object_repr = object_repr or str(obj)
        except Exception:  # noqa: BLE001 - a __str__ that needs a deleted relation
            object_repr = f"#{object_id}"
    if action == UPDATE and actor.action:
        action = actor.action
    return AuditEntry.objects.create(
        actor=name,
        user=user if user is not None and user.pk is not None else None,
        via=actor.via,
        action=action[:50],
        object_type=object_type[:100],
        object_id=object_id[:64],
        object_repr=object_repr[:200],
        changes=plain(dict(changes or {})),
        os_user=actor.os_user,
    )


def record_values(obj: Model, before: Mapping[str, Any], after: Mapping[str, Any], action: str = UPDATE) -> Any:
    """One entry for a change written with QuerySet.update: the fields of `after` whose value differs from
    `before` (obj's values before the write), secrets masked, ignored fields left out; none when nothing
    differs or no one is acting."""
    spec = _spec(obj)
    if current() is None or spec is None:
        return None
    changes: dict[str, list[Any]] = {}
    for name, new in after.items():
        try:
            model_field = obj._meta.get_field(name)
        except Exception:  # noqa: BLE001 - not a field: recorded as given, not masked unless its name says so
            model_field = None
        if _ignored(name, spec) or plain(before.get(name)) == plain(new):
            continue
        secret = is_secret(model_field) if model_field is not None else is_secret(name)
        old = before.get(name)
        changes[name] = [masked(old), masked(new)] if secret else [plain(old), plain(new)]
    return record(obj, action, changes) if changes else None


def record_each(objs: Iterable[Model], action: str, changes: Mapping[str, Any] | None = None) -> None:
    """One entry per object (pause, resume, run now of several jobs), when someone is acting."""
    if current() is None:
        return
    for obj in objs:
        record(obj, action, changes)


# --- Commands -----------------------------------------------------------------------------------------------
def install_command_hook() -> None:
    """Every management command a person runs acts as "command:<name>" (its writes are recorded). Wraps
    BaseCommand.execute once, so `manage.py x` and call_command("x") alike are covered, and every command,
    Django's (createsuperuser, changepassword) included; a command inside another keeps the outer actor."""
    from django.core.management.base import BaseCommand

    if getattr(BaseCommand.execute, "_vigia_audit", False):
        return
    original = BaseCommand.execute

    def execute(self: BaseCommand, *args: Any, **options: Any) -> Any:
        if current() is not None:
            return original(self, *args, **options)
        with acting(command_actor(type(self).__module__.rsplit(".", 1)[-1])):
            return original(self, *args, **options)

    execute._vigia_audit = True  # type: ignore[attr-defined]
    BaseCommand.execute = execute  # type: ignore[method-assign]
