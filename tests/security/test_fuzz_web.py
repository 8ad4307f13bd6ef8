"""The fuzz of every dashboard and admin form and every list's query parameters (tests.security.fuzz), at the
size CI affords; `python manage.py bench fuzz` runs the same at 20,000 cases and more."""

import re

import pytest
from hypothesis import HealthCheck, given, settings

from tests.security import fuzz, walk, world

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
CASES = fuzz.cases(600)  # per test: about 20 s each on SQLite, 40 s on PostgreSQL


@pytest.fixture
def site(db, django_user_model):
    from django.test import Client

    data = world.build(lambda label: f"fuzz {label}")
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_superuser("fuzz", "fuzz@example.com", "pw"))
    forms, paths = fuzz.discover(client, walk.pages(data))
    return client, forms, paths


FUZZ = settings(
    max_examples=CASES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_the_walk_finds_the_forms_that_matter(site):
    _client, forms, paths = site
    actions = {form.action for form in forms}
    for expected in ("/jobs/new/", "/sources/new/", "/people/new/", "/admin/scheduler/job/add/"):
        assert expected in actions, sorted(actions)
    # issue 16's inputs: alert policies and actions, digests (the Notify panel), recipients' quiet hours
    for expected in ("/alerts/policy/", "/alerts/act/", "/notify/"):
        assert expected in actions, sorted(actions)
    assert any(re.fullmatch(r"/channels/\d+/recipients/new/", action) for action in actions), sorted(actions)
    assert "/runs/" in paths and "/items/" in paths
    assert "/alerts/" in paths and "/audit/" in paths


def test_hostile_form_posts_never_fail_and_refusals_say_why_and_store_nothing(site):
    client, forms, _paths = site
    tally = fuzz.Tally()
    state = {"before": world.snapshot()}

    @FUZZ
    @given(case=fuzz.post_cases(forms))
    def run(case):
        form, values = case
        state["before"] = fuzz.post_case(client, form, values, tally, state["before"])

    try:
        run()
    finally:  # a case that broke the test's transaction (PostgreSQL) still shows in bench fuzz's figures
        tally.report("web posts")
    assert tally.problems == [], "\n".join(sorted(set(tally.problems))[:40])
    assert tally.cases >= CASES


def test_hostile_list_filters_never_fail(site):
    client, _forms, paths = site
    tally = fuzz.Tally()

    @FUZZ
    @given(case=fuzz.get_cases(paths))
    def run(case):
        path, params = case
        fuzz.get_case(client, path, params, tally)

    try:
        run()
    finally:
        tally.report("list filters")
    assert tally.problems == [], "\n".join(tally.problems[:30])
