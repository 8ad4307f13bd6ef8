"""API token scopes map onto the roles' permissions (scheduler.shared.roles.SCOPE_ACTIONS): a token is never
given a scope beyond its creator's role (a field error on the tokens page's form and the admin's), and in use
it keeps only the scopes its creator may still do."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from channels_app import tokens
from channels_app.forms_tokens import ApiTokenForm, scope_roles
from channels_app.models import ApiToken
from scheduler.shared import audit, roles
from scheduler.shared.api_callers import SCOPES
from tests.support.factories import make_job
from tests.support.web import user_with_role

pytestmark = pytest.mark.django_db

READS = {"jobs:read", "sources:read", "messages:read", "queue:read"}


def test_every_scope_names_a_role_action_or_none():
    assert set(roles.SCOPE_ACTIONS) == set(SCOPES)  # a new scope must be mapped
    assert {action for action in roles.SCOPE_ACTIONS.values() if action} <= set(roles.ACTIONS)
    assert roles.SCOPE_ACTIONS["jobs:write"] == "operate"
    assert roles.SCOPE_ACTIONS["people:read"] == "see_documents"
    assert roles.SCOPE_ACTIONS["messages:write"] == "administer"


def test_what_each_role_may_give(django_user_model):
    viewer = user_with_role(django_user_model, "v", roles.VIEWER)
    operator = user_with_role(django_user_model, "o", roles.OPERATOR)
    admin = user_with_role(django_user_model, "a", roles.ADMIN)
    assert roles.scopes_allowed(viewer) == READS
    assert roles.scopes_allowed(operator) == set(SCOPES) - {"messages:write"}
    assert roles.scopes_allowed(admin) == set(SCOPES)
    inactive = user_with_role(django_user_model, "gone", roles.ADMIN)
    inactive.is_active = False
    assert roles.scopes_allowed(inactive) == set()


def test_the_form_refuses_a_scope_beyond_the_creators_role(django_user_model):
    operator = user_with_role(django_user_model, "o", roles.OPERATOR)
    form = ApiTokenForm({"name": "crm", "scopes": ["jobs:write", "messages:write"]}, user=operator)
    assert not form.is_valid()
    assert "messages:write" in str(form.errors["scopes"]) and "jobs:write" not in str(form.errors["scopes"])
    # Nothing ticked means the messages scopes: refused to an operator too.
    assert not ApiTokenForm({"name": "crm"}, user=operator).is_valid()
    assert ApiTokenForm({"name": "crm", "scopes": ["jobs:write", "people:read"]}, user=operator).is_valid()
    assert ApiTokenForm({"name": "crm", "scopes": list(SCOPES)}).is_valid()  # at the shell: every scope


def test_the_admin_refuses_an_operator_a_scope_beyond_the_role(django_user_model):
    operator = user_with_role(django_user_model, "o", roles.OPERATOR)
    operator.user_permissions.add(*Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"]))
    client = Client()
    client.force_login(operator)
    answer = client.post(
        "/admin/channels_app/apitoken/add/", {"name": "crm", "scopes": ["messages:write"], "_save": "Save"}
    )
    assert answer.status_code == 200 and "messages:write" in answer.content.decode()
    assert not ApiToken.objects.exists()


def test_the_tokens_page_documents_the_mapping(staff_client):
    page = staff_client.get("/tokens/").content.decode()
    assert 'id="scope-roles"' in page
    for scope, _allows, role in scope_roles():
        assert f"<code>{scope}</code>" in page and role in page


def test_a_tokens_scopes_follow_its_creators_role_at_request_time(staff_client, settings):
    settings.VIGIA_API_RATE_PER_MINUTE = 0
    answer = staff_client.post("/tokens/new/", {"name": "deployer", "scopes": ["jobs:read", "jobs:write"]})
    assert answer.status_code == 200
    token = ApiToken.objects.get(name="deployer")
    assert token.created_by == staff_client.user and token.creator_name == staff_client.user.username
    raw = answer.content.decode().split("vig_", 1)[1].split("<", 1)[0].split('"', 1)[0]
    auth = {"HTTP_AUTHORIZATION": f"Bearer vig_{raw}"}
    job = make_job()
    body, kind = json.dumps({"timeout_seconds": 120}), "application/json"
    assert Client().patch(f"/api/v1/jobs/{job.pk}", body, kind, **auth).status_code == 200

    roles.set_role(staff_client.user, roles.VIEWER)  # the creator is demoted: the token keeps its reads only
    token = ApiToken.objects.get(pk=token.pk)  # as each request loads it
    assert tokens.effective_scopes(token) == {"jobs:read"}
    assert Client().patch(f"/api/v1/jobs/{job.pk}", body, kind, **auth).status_code == 403
    assert Client().get("/api/v1/jobs", **auth).status_code == 200

    staff_client.user.is_active = False
    staff_client.user.save()
    assert tokens.effective_scopes(ApiToken.objects.get(pk=token.pk)) == set()
    assert Client().get("/api/v1/jobs", **auth).status_code == 403


def test_a_token_made_at_the_shell_or_before_roles_keeps_its_scopes(django_user_model):
    with audit.acting(audit.command_actor("create_api_token")):
        shell, _raw = tokens.create("shell", scopes=list(SCOPES))  # no account made it
    assert shell.creator_name == "" and tokens.effective_scopes(shell) == set(SCOPES)


def test_a_token_whose_creator_was_deleted_keeps_only_the_reads(django_user_model):
    admin = user_with_role(django_user_model, "a", roles.ADMIN)
    token, _raw = tokens.create("orphan", scopes=list(SCOPES), created_by=admin)
    admin.delete()
    assert tokens.effective_scopes(ApiToken.objects.get(pk=token.pk)) == READS
