"""Permissions under their names in the reader's language, where the admin lists them (a user's or a group's
permissions). Django stores each model's default permissions with an English name ("Can add job") and shows it
as stored; the name is rebuilt here from its action and the model's (translated) verbose name."""

from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Permission
from django.utils.translation import gettext, gettext_noop

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite

ACTIONS = {
    "add": gettext_noop("Can add %(model)s"),
    "change": gettext_noop("Can change %(model)s"),
    "delete": gettext_noop("Can delete %(model)s"),
    "view": gettext_noop("Can view %(model)s"),
}


def label(permission: Permission) -> str:
    """'app | model | name', as Django writes it, in the active language."""
    action = permission.codename.partition("_")[0]
    model = permission.content_type.model_class()
    name = permission.name
    if model is not None and action in ACTIONS and name.startswith(f"Can {action} "):
        name = gettext(ACTIONS[action]) % {"model": model._meta.verbose_name}
    return f"{permission.content_type} | {name}"


def translate(site: "AdminSite") -> None:
    """Every admin of `site` lists permissions by `label` in its many-to-many fields."""
    for model_admin in site._registry.values():
        original = model_admin.formfield_for_manytomany

        def wrapped(db_field: Any, request: Any, original: Any = original, **kwargs: Any) -> Any:
            field = original(db_field, request, **kwargs)
            if field is not None and db_field.related_model is Permission:
                field.label_from_instance = label
            return field

        model_admin.formfield_for_manytomany = wrapped  # type: ignore[method-assign]
