"""Roles: who may do what, decided here and nowhere else.

Three Django groups ("viewer", "operator", "admin") hold model permissions; an action of the dashboard is
allowed when the user has every permission the action names (`ACTIONS`). The Django admin checks the same model
permissions, so the admin, the dashboard and the page's buttons agree. Superusers hold every permission.

- viewer: reads pages (any login may read); no model permission, so no full CPF/CNPJ and no export.
- operator: runs and edits the work: jobs, sources, people (force sync, check now, run now, pause and resume,
  edit, import, export, full documents).
- admin: all of the operator's, plus channels (recipients, subscriptions, templates), API tokens and users.

Nothing is cached in the session: `user.has_perms` reads the groups once per request (the user object is loaded
anew for each), so a role change is in force on the user's next request.

The permissions are named as strings ("app_label.codename"), so this bottom-layer module imports no other app.
"""

from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from functools import wraps
from typing import TYPE_CHECKING, Any, Concatenate

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

if TYPE_CHECKING:
    from django.http import HttpResponseBase

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)  # least to most; the group names are stable, their labels translated
LABELS = {
    VIEWER: gettext_lazy("Viewer"),
    OPERATOR: gettext_lazy("Operator"),
    ADMIN: gettext_lazy("Admin"),
}
SUPERUSER_LABEL = gettext_lazy("Superuser")

_OPERATOR_GRANTS = (
    "scheduler.view_*",
    "scheduler.add_job",
    "scheduler.change_job",
    "scrapers.view_*",
    "scrapers.add_source",
    "scrapers.change_source",
    "scrapers.add_monitoredperson",
    "scrapers.change_monitoredperson",
    "scrapers.add_peopletransfer",
    "channels_app.view_delivery",
    "channels_app.change_delivery",
    "channels_app.view_attachment",  # the files deliveries carried, and fetching a refused one again
    "channels_app.change_attachment",
)
# The model permissions each group is given ("app_label.codename", shell-style patterns).
GRANTS: dict[str, tuple[str, ...]] = {
    VIEWER: (),
    OPERATOR: _OPERATOR_GRANTS,
    ADMIN: (*_OPERATOR_GRANTS, "scheduler.*", "scrapers.*", "channels_app.*", "django_q.*", "auth.*"),
}

# What each dashboard action needs: every permission listed.
ACTIONS: dict[str, tuple[str, ...]] = {
    # force sync, check now, run now, pause/resume, cancel, edit jobs, sources and people, import, retry deliveries
    "operate": ("scheduler.change_job", "scrapers.change_source", "scrapers.change_monitoredperson"),
    # full CPF/CNPJ on the pages (the admin shows them to the same permission)
    "see_documents": ("scrapers.view_monitoredperson",),
    # the people export and the publications CSV (they hold what a viewer may not see)
    "export": ("scrapers.view_monitoredperson", "scrapers.view_publication"),
    # channels, recipients, subscriptions, templates, API tokens, users
    "administer": ("channels_app.change_channel", "channels_app.add_apitoken", "auth.change_user"),
}

# What each API scope (scheduler.shared.api_callers.SCOPES) stands for among these actions: a scope is the API's
# name for a role's permission. None: any signed-in user may (reading jobs, sources, runs, messages and the queue
# is open to viewers on the pages too). A token may only be given the scopes its creator's role allows, and in
# use it keeps only those its creator may still do (channels_app.tokens.effective_scopes).
SCOPE_ACTIONS: dict[str, str | None] = {
    "jobs:read": None,
    "jobs:write": "operate",  # create, edit, pause, run, delete jobs; cancel their runs
    "people:read": "see_documents",  # the API answers full CPF/CNPJ, which viewers never see
    "people:write": "operate",
    "sources:read": None,
    "sources:write": "operate",
    "messages:read": None,
    "messages:write": "administer",  # sending through the channels: delivery is the admin's
    "queue:read": None,
    "queue:write": "operate",  # cancel waiting and running work
}


def scope_allowed(user: object, scope: str) -> bool:
    """Whether `user` may hold (or give a token) `scope`: its action's permission, when it names one. A scope
    write implies read, so a write scope also needs what its read scope needs."""
    resource, _sep, level = scope.partition(":")
    needed = [SCOPE_ACTIONS[scope]] + ([SCOPE_ACTIONS.get(f"{resource}:read")] if level == "write" else [])
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    return all(action is None or can(user, action) for action in needed)


def scopes_allowed(user: object) -> frozenset[str]:
    """The scopes `user` may give a token (or a token created by `user` may use)."""
    return frozenset(scope for scope in SCOPE_ACTIONS if scope_allowed(user, scope))


def can(user: object, action: str) -> bool:
    """Whether `user` may do `action` (a key of ACTIONS); an unknown action is an error, not a refusal."""
    needed = ACTIONS[action]
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    if getattr(user, "is_superuser", False):
        return True
    return set(needed) <= permissions_of(user)


def permissions_of(user: Any) -> frozenset[str]:
    """The user's model permissions ("app_label.codename"), their own and their groups', as the admin's
    ModelBackend counts them, in one query, kept on the user object: for this request only (the next one loads
    the user anew, so a role change is in force then)."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    found: frozenset[str] | None = getattr(user, "_vigia_permissions", None)
    if found is None:
        rows = (
            Permission.objects.filter(Q(user=user) | Q(group__user=user))
            .values_list("content_type__app_label", "codename")
            .distinct()
        )
        found = frozenset(f"{app}.{codename}" for app, codename in rows)
        user._vigia_permissions = found
    return found


def require(user: object, action: str) -> None:
    """PermissionDenied (a 403) unless `user` may do `action`."""
    if not can(user, action):
        raise PermissionDenied


def role_required[**P, R: "HttpResponseBase"](
    action: str, view: Callable[Concatenate[Any, P], R]
) -> Callable[Concatenate[Any, P], R]:
    """`view` as a dashboard change: POST only, and 403 unless the user may do `action` (checked first)."""
    ACTIONS[action]  # a typo fails at import, not at the first request

    @require_POST
    @wraps(view)
    def wrapped(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> R:
        require(request.user, action)
        return view(request, *args, **kwargs)

    return wrapped


def role_of(user: Any) -> str:
    """The user's role: the highest role group they are in; a user in none is a viewer."""
    names = set(user.groups.values_list("name", flat=True))
    return next((role for role in reversed(ROLES) if role in names), VIEWER)


def role_label(user: Any) -> str:
    return str(SUPERUSER_LABEL) if user.is_superuser else str(LABELS[role_of(user)])


@transaction.atomic
def set_role(user: Any, role: str) -> None:
    """Put `user` in the group of `role` (and out of the others). Operators and admins are staff, so they may
    sign in to the Django admin, where their groups' model permissions apply; a viewer is not."""
    from django.contrib.auth.models import Group, Permission

    if role not in ROLES:
        raise ValueError(role)
    groups = {group.name: group for group in Group.objects.filter(name__in=ROLES)}
    if len(groups) < len(ROLES):
        sync_groups(Group, Permission)
        groups = {group.name: group for group in Group.objects.filter(name__in=ROLES)}
    for cached in ("_vigia_permissions", "_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cached, None)  # this object's answers change with the role
    user.groups.remove(*[group for name, group in groups.items() if name != role])
    user.groups.add(groups[role])
    if user.is_staff != (role != VIEWER):
        user.is_staff = role != VIEWER
        user.save(update_fields=["is_staff"])


def sync_groups(group_model: Any, permission_model: Any) -> None:
    """Create the role groups and give each the permissions of GRANTS that exist (added, never removed, so a
    permission granted by hand in the admin stays). Run by the roles migration and after every `migrate`
    (new models' permissions exist only then). Takes the models so the migration can pass its historical ones."""
    everything = list(permission_model.objects.select_related("content_type").only("pk", "codename", "content_type"))
    for role in ROLES:
        group, _created = group_model.objects.get_or_create(name=role)
        wanted = [p.pk for p in everything if _matches(f"{p.content_type.app_label}.{p.codename}", GRANTS[role])]
        if wanted:
            group.permissions.add(*wanted)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def after_migrate(**kwargs: Any) -> None:
    """post_migrate: the groups hold the permissions of models created since (the test database too)."""
    from django.contrib.auth.models import Group, Permission

    using = kwargs.get("using", "default")
    if using != "default":
        return
    sync_groups(Group, Permission)


class _Abilities(dict[str, bool]):
    pass


def context(request: HttpRequest) -> dict[str, object]:
    """Template context processor: `perms_vigia.operate`, `perms_vigia.administer`, `perms_vigia.export`,
    `perms_vigia.see_documents`, each True when the page's user may; computed on first use."""
    user = getattr(request, "user", None)
    return {"perms_vigia": SimpleLazyObject(lambda: _Abilities({action: can(user, action) for action in ACTIONS}))}
