"""The users page (/users/), for the admin role: every account with its role, a role select per account,
a form to create one (username, password, role) and a button to deactivate one. Roles are the groups of
scheduler.shared.roles; the Django admin edits the same groups. Nobody changes their own role or deactivates
themselves here (a lockout is one click away otherwise), and only a superuser touches a superuser's account."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from scheduler.shared import roles
from scheduler.shared.web import Request, admin_required, keyset_page, query_without, render_page

TEMPLATE = "config/users.html"
ROLE_CHOICES = [(role, roles.LABELS[role]) for role in roles.ROLES]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=ROLE_CHOICES)


class NewUserForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150)
    password = forms.CharField(
        label=gettext_lazy("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=ROLE_CHOICES, initial=roles.VIEWER)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        User.username_validator(username)
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(_("A user with that username already exists."), code="unique")
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:
            try:
                validate_password(password, User(username=cleaned.get("username", "")))
            except ValidationError as error:
                self.add_error("password", error)
        return cleaned

    @transaction.atomic
    def create(self) -> User:
        data = self.cleaned_data
        user = User.objects.create_user(data["username"], password=data["password"])
        roles.set_role(user, data["role"])
        return user


def _page(request: Request, form: NewUserForm, status: int = 200) -> HttpResponse:
    rows = keyset_page(User.objects.prefetch_related("groups").order_by("-pk"), request, 100)
    for row in rows:
        names = {group.name for group in row.groups.all()}
        row.role = next((r for r in reversed(roles.ROLES) if r in names), roles.VIEWER)  # type: ignore[attr-defined]
        row.editable = _may_touch(request, row)  # type: ignore[attr-defined]
    context = {
        "title": _("Users"),
        "users": rows,
        "query": query_without(request, "before"),
        "form": form,
        "role_choices": ROLE_CHOICES,
    }
    return render_page(request, TEMPLATE, context, status=status)


def _may_touch(request: Request, target: User) -> bool:
    return target.pk != request.user.pk and (request.user.is_superuser or not target.is_superuser)


def _target(request: Request, pk: int) -> User:
    target = get_object_or_404(User, pk=pk)
    if not _may_touch(request, target):
        raise PermissionDenied
    return target


@require_GET
def user_list(request: Request) -> HttpResponse:
    roles.require(request.user, "administer")
    return _page(request, NewUserForm())


@admin_required
def user_new(request: Request) -> HttpResponse:
    form = NewUserForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    user = form.create()
    messages.success(request, _("User “%(name)s” created.") % {"name": user.username})
    return redirect("users")


@admin_required
def user_role(request: Request, pk: int) -> HttpResponseRedirect:
    target = _target(request, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role."))
        return redirect("users")
    roles.set_role(target, form.cleaned_data["role"])
    label = roles.LABELS[form.cleaned_data["role"]]
    messages.success(request, _("%(name)s is now %(role)s.") % {"name": target.username, "role": label})
    return redirect("users")


@admin_required
def user_deactivate(request: Request, pk: int) -> HttpResponseRedirect:
    target = _target(request, pk)
    if target.is_active:
        target.is_active = False
        target.save(update_fields=["is_active"])
        messages.success(request, _("%(name)s can no longer sign in.") % {"name": target.username})
    else:
        messages.info(request, _("%(name)s was already inactive.") % {"name": target.username})
    return redirect("users")


urls = [
    path("users/", user_list, name="users"),
    path("users/new/", user_new, name="user_new"),
    path("users/<int:pk>/role/", user_role, name="user_role"),
    path("users/<int:pk>/deactivate/", user_deactivate, name="user_deactivate"),
]
