"""Roles (scheduler.shared.roles): every dashboard POST, walked from the URL resolver, against each role — a
viewer is refused (403) and changes nothing, an operator may operate but not administer, an admin may do
everything; the buttons each page shows follow the same check; viewers see masked CPF/CNPJ and cannot export;
a role change applies on the next request; the users page."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.test import Client
from django.urls import resolve, reverse

from scheduler.models import Job
from scheduler.shared import roles
from scrapers.models import MonitoredPerson, Source
from tests.security import walk, world
from tests.support.web import user_with_role

pytestmark = pytest.mark.django_db

# Every route that changes something, by the role it needs. A new POST route must be added here (the
# completeness test below fails until it is), so no change is left ungated.
OPERATE = {
    "force_sync_people",
    "force_sync_sources",
    "scheduler:job_new",
    "scheduler:job",
    "scheduler:job_pause",
    "scheduler:job_resume",
    "scheduler:job_run",
    "scheduler:job_duplicate",
    "scheduler:job_delete",
    "scheduler:queue_cancel",
    "scrapers:source_new",
    "scrapers:source",
    "scrapers:source_preview",
    "scrapers:source_check",
    "scrapers:person_new",
    "scrapers:people_sync",
    "scrapers:person_check",
    "scrapers:person_deactivate",
    "scrapers:people_import",
    "scrapers:people_export",
    "channels_app:delivery_retry",
    "channels_app:channel_retry_dead",
}
ADMINISTER = {
    "channels_app:channel_new",
    "channels_app:channel",
    "channels_app:channel_test",
    "channels_app:notify",
    "channels_app:recipient_new",
    "channels_app:recipient",
    "channels_app:recipient_delete",
    "channels_app:subscription_new",
    "channels_app:subscription_delete",
    "channels_app:template_new",
    "channels_app:template",
    "channels_app:template_preview",
    "channels_app:token_new",
    "channels_app:token_revoke",
    "user_new",
    "user_role",
    "user_deactivate",
}
# POSTs any login may make: they compute or sign in and out, and store nothing of the site's.
HARMLESS = {"scheduler:cron_preview", "login", "logout", "set_language"}
NOT_DASHBOARD = ("admin/", "api/v1/")  # the admin's own permission checks; bearer tokens, not the session
CPF = "52998224725"


@pytest.fixture
def site(db):
    data = world.build(lambda label: f"Roles {label}")
    pages = [page for page in walk.pages(data) if not page.route.startswith(NOT_DASHBOARD)]
    pages = [page for page in pages if view_name(page) not in ("login", "logout")]  # would end the session
    return data, pages


def view_name(page):
    return resolve(page.path).view_name


def post(client, page, htmx=False):
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_REFERER": "http://testserver/"} if htmx else {}
    return client.post(page.path, {"name": "changed", "role": "admin"}, **headers)


def post_and_undo(client, page):
    """POST, then roll its changes back: each route sees the same world, and the answer is what counts."""
    with transaction.atomic():
        response = post(client, page)
        changed = world.snapshot()
        transaction.set_rollback(True)
    return response, changed


def test_every_route_that_changes_something_is_classified(site, staff_client):
    _data, pages = site
    unclassified = []
    for page in pages:
        name = view_name(page)
        if name in OPERATE | ADMINISTER | HARMLESS:
            continue
        before = world.snapshot()
        response, after = post_and_undo(staff_client, page)
        if after != before:
            unclassified.append(f"{page.path} ({name}): {response.status_code}")
    assert not unclassified, "POST routes missing from OPERATE/ADMINISTER: " + ", ".join(unclassified)
    known = {view_name(page) for page in pages}
    assert (OPERATE | ADMINISTER) <= known, (OPERATE | ADMINISTER) - known


@pytest.mark.parametrize("htmx", [False, True])
def test_a_viewer_is_refused_every_change_and_nothing_changes(site, viewer_client, htmx):
    _data, pages = site
    before = world.snapshot()
    problems = []
    for page in pages:
        name = view_name(page)
        response = post(viewer_client, page, htmx)
        if name in OPERATE | ADMINISTER and response.status_code != 403:
            problems.append(f"{page.path} ({name}): {response.status_code}")
    assert not problems, problems
    assert world.snapshot() == before


def test_an_operator_operates_but_does_not_administer(site, operator_client):
    _data, pages = site
    problems = []
    for page in pages:
        name = view_name(page)
        if name not in OPERATE | ADMINISTER:
            continue
        response, _after = post_and_undo(operator_client, page)
        expected_refused = name in ADMINISTER
        if (response.status_code == 403) != expected_refused or response.status_code == 405:
            problems.append(f"{page.path} ({name}): {response.status_code}")
    assert not problems, problems


def test_an_admin_may_do_everything(site, staff_client):
    _data, pages = site
    problems = []
    for page in pages:
        name = view_name(page)
        if name not in OPERATE | ADMINISTER:
            continue
        response, _after = post_and_undo(staff_client, page)
        if response.status_code in (403, 405):
            problems.append(f"{page.path} ({name}): {response.status_code}")
    assert not problems, problems


def test_an_operator_really_changes_things(operator_client):
    job = Job.objects.create(name="nightly", kind="noop", schedule_type="manual")
    assert operator_client.post(reverse("scheduler:job_pause", args=[job.pk])).status_code == 302
    job.refresh_from_db()
    assert not job.enabled


def test_a_viewer_cannot_pause_a_job(viewer_client):
    job = Job.objects.create(name="nightly", kind="noop", schedule_type="manual")
    before = world.snapshot()
    assert viewer_client.post(reverse("scheduler:job_pause", args=[job.pk])).status_code == 403
    assert world.snapshot() == before


# --- buttons --------------------------------------------------------------------------------------------------


def buttons_of(client, url):
    return client.get(url).content.decode()


def test_source_page_buttons_follow_the_role(viewer_client, operator_client, staff_client):
    source = Source.objects.create(name="Agenda", kind="html", url="https://example.org/", config={"items": "li"})
    url = reverse("scrapers:source", args=[source.pk])
    check = reverse("scrapers:source_check", args=[source.pk])
    viewer = buttons_of(viewer_client, url)
    assert check not in viewer
    assert '<fieldset class="plain" disabled' in viewer
    for client in (operator_client, staff_client):
        page = buttons_of(client, url)
        assert check in page
        assert '<fieldset class="plain" disabled' not in page
    sources = reverse("scrapers:source_new")
    assert sources not in buttons_of(viewer_client, reverse("scrapers:sources"))
    assert sources in buttons_of(operator_client, reverse("scrapers:sources"))


def test_job_page_buttons_follow_the_role(viewer_client, operator_client):
    job = Job.objects.create(name="nightly", kind="noop", schedule_type="manual")
    url = reverse("scheduler:job", args=[job.pk])
    run = reverse("scheduler:job_run", args=[job.pk])
    assert run not in buttons_of(viewer_client, url)
    assert run in buttons_of(operator_client, url)
    assert reverse("scheduler:job_new") not in buttons_of(viewer_client, reverse("scheduler:jobs"))
    assert reverse("scheduler:job_new") in buttons_of(operator_client, reverse("scheduler:jobs"))


def test_person_page_buttons_follow_the_role(viewer_client, operator_client):
    person = MonitoredPerson.objects.create(name="Ana Lima", document=CPF)
    url = reverse("scrapers:person", args=[person.pk])
    for action in ("scrapers:person_check", "scrapers:person_deactivate"):
        assert reverse(action, args=[person.pk]) not in buttons_of(viewer_client, url)
        assert reverse(action, args=[person.pk]) in buttons_of(operator_client, url)
    people = reverse("scrapers:people")
    for action in ("scrapers:people_sync", "scrapers:person_new", "scrapers:people_import"):
        assert reverse(action) not in buttons_of(viewer_client, people)
        assert reverse(action) in buttons_of(operator_client, people)


def test_channel_pages_are_for_admins(viewer_client, operator_client, staff_client):
    channels = reverse("channels_app:channels")
    new = reverse("channels_app:channel_new")
    assert new not in buttons_of(viewer_client, channels)
    assert new not in buttons_of(operator_client, channels)
    assert new in buttons_of(staff_client, channels)
    tokens, users = reverse("channels_app:tokens"), reverse("users")
    for client in (viewer_client, operator_client):
        assert client.get(tokens).status_code == 403
        assert client.get(users).status_code == 403
        menu = buttons_of(client, reverse("overview"))
        assert f'href="{tokens}"' not in menu and f'href="{users}"' not in menu
    menu = buttons_of(staff_client, reverse("overview"))
    assert f'href="{tokens}"' in menu and f'href="{users}"' in menu


# --- documents and exports ------------------------------------------------------------------------------------


def test_a_viewer_sees_cpf_masked_on_the_person_page_and_the_list(viewer_client, operator_client):
    person = MonitoredPerson.objects.create(name="Ana Lima", document=CPF)
    for url in (reverse("scrapers:person", args=[person.pk]), reverse("scrapers:people")):
        viewer = buttons_of(viewer_client, url)
        assert "***.982.247-**" in viewer
        assert "529.982.247-25" not in viewer and CPF not in viewer
        assert "529.982.247-25" in buttons_of(operator_client, url)


def test_a_cnpj_is_masked_too():
    from scrapers.people.brazil import mask_document

    assert mask_document("12ABC34501DE35") == "**.ABC.345/****-**"
    assert mask_document("") == ""


def test_a_viewer_cannot_export(viewer_client, operator_client):
    MonitoredPerson.objects.create(name="Ana Lima", document=CPF)
    export, publications = reverse("scrapers:people_export"), reverse("scrapers:publications_export")
    assert viewer_client.get(export).status_code == 403
    assert viewer_client.post(export).status_code == 403
    assert viewer_client.get(publications).status_code == 403
    assert export not in buttons_of(viewer_client, reverse("scrapers:people"))
    assert publications not in buttons_of(viewer_client, reverse("scrapers:publications"))
    assert operator_client.get(export).status_code == 200
    assert operator_client.get(publications).status_code == 200
    assert export in buttons_of(operator_client, reverse("scrapers:people"))
    assert publications in buttons_of(operator_client, reverse("scrapers:publications"))


# --- a role change, the migration, the admin ------------------------------------------------------------------


def test_a_role_change_applies_on_the_next_request(viewer_client):
    job = Job.objects.create(name="nightly", kind="noop", schedule_type="manual")
    url, run = reverse("scheduler:job", args=[job.pk]), reverse("scheduler:job_run", args=[job.pk])
    assert run not in buttons_of(viewer_client, url)
    roles.set_role(viewer_client.user, roles.OPERATOR)
    assert run in buttons_of(viewer_client, url)
    assert viewer_client.post(reverse("scheduler:job_pause", args=[job.pk])).status_code == 302
    roles.set_role(viewer_client.user, roles.VIEWER)
    assert viewer_client.post(reverse("scheduler:job_resume", args=[job.pk])).status_code == 403


def test_the_migration_makes_staff_admins_and_the_others_viewers(django_user_model):
    staff = django_user_model.objects.create_user("old-staff", is_staff=True)
    plain = django_user_model.objects.create_user("old-plain")
    migration = importlib.import_module("scheduler.migrations.0018_roles")
    migration.create_roles(django_apps, None)
    assert roles.role_of(staff) == roles.ADMIN and roles.can(User.objects.get(pk=staff.pk), "administer")
    assert roles.role_of(plain) == roles.VIEWER and not roles.can(User.objects.get(pk=plain.pk), "operate")
    assert set(Group.objects.filter(name__in=roles.ROLES).values_list("name", flat=True)) == set(roles.ROLES)


def test_the_django_admin_enforces_the_same_permissions(operator_client, staff_client):
    job = Job.objects.create(name="nightly", kind="noop", schedule_type="manual")
    assert operator_client.get(reverse("admin:scheduler_job_change", args=[job.pk])).status_code == 200
    assert operator_client.get(reverse("admin:channels_app_channel_changelist")).status_code == 403
    assert operator_client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert staff_client.get(reverse("admin:channels_app_channel_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:auth_user_changelist")).status_code == 200


def test_a_superuser_may_do_everything(django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "b@example.org", "x")
    assert all(roles.can(boss, action) for action in roles.ACTIONS)


def test_an_inactive_or_anonymous_user_may_do_nothing(django_user_model):
    from django.contrib.auth.models import AnonymousUser

    gone = user_with_role(django_user_model, "gone", roles.ADMIN)
    gone.is_active = False
    assert not any(roles.can(gone, action) for action in roles.ACTIONS)
    assert not any(roles.can(AnonymousUser(), action) for action in roles.ACTIONS)


# --- the users page -------------------------------------------------------------------------------------------


def test_the_users_page_lists_creates_changes_and_deactivates(staff_client):
    page = staff_client.get(reverse("users"))
    assert page.status_code == 200 and b"staff" in page.content
    response = staff_client.post(
        reverse("user_new"), {"username": "bia", "password": "a-long-pass-123", "role": roles.OPERATOR}
    )
    assert response.status_code == 302
    bia = User.objects.get(username="bia")
    assert roles.role_of(bia) == roles.OPERATOR and bia.is_staff and bia.check_password("a-long-pass-123")
    assert roles.can(bia, "operate") and not roles.can(bia, "administer")

    assert staff_client.post(reverse("user_role", args=[bia.pk]), {"role": roles.VIEWER}).status_code == 302
    bia = User.objects.get(pk=bia.pk)
    assert roles.role_of(bia) == roles.VIEWER and not bia.is_staff and not roles.can(bia, "operate")
    assert bia.groups.count() == 1

    assert staff_client.post(reverse("user_deactivate", args=[bia.pk])).status_code == 302
    assert not User.objects.get(pk=bia.pk).is_active
    client = Client()
    assert not client.login(username="bia", password="a-long-pass-123")


def test_the_users_page_refuses_bad_input_and_self_changes(staff_client, django_user_model):
    response = staff_client.post(reverse("user_new"), {"username": "bia", "password": "1", "role": roles.ADMIN})
    assert response.status_code == 400 and not User.objects.filter(username="bia").exists()
    response = staff_client.post(reverse("user_new"), {"username": "staff", "password": "a-long-pass-123"})
    assert response.status_code == 400
    me = staff_client.user
    assert staff_client.post(reverse("user_role", args=[me.pk]), {"role": roles.VIEWER}).status_code == 403
    assert staff_client.post(reverse("user_deactivate", args=[me.pk])).status_code == 403
    boss = django_user_model.objects.create_superuser("boss", "b@example.org", "x")
    assert staff_client.post(reverse("user_deactivate", args=[boss.pk])).status_code == 403
    assert User.objects.get(pk=boss.pk).is_active and roles.role_of(User.objects.get(pk=me.pk)) == roles.ADMIN


def test_the_users_page_needs_csrf(staff_client):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_client.user)
    response = client.post(reverse("user_new"), {"username": "x1", "password": "a-long-pass-123", "role": "viewer"})
    assert response.status_code == 403 and not User.objects.filter(username="x1").exists()


def test_the_users_page_in_portuguese(staff_client):
    page = staff_client.get(reverse("users"), HTTP_ACCEPT_LANGUAGE="pt-br")
    assert page.status_code == 200
