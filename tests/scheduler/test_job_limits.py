"""A job's limits hold on every path: the form (admin, dashboard, import, API) gives a field error, and the
database's CheckConstraints refuse what any other path (shell, bulk update, a bug) tries to store."""

import json

import pytest
from django.db import IntegrityError, transaction

from scheduler.forms import JobForm
from scheduler.models import MAX_ATTEMPTS, TIMEOUT_CEILING, Job
from tests.support.commands import call_failing
from tests.support.factories import job_form_data as form_data
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db

REFUSED = [
    ("timeout_seconds", "1000000"),
    ("timeout_seconds", "0"),
    ("max_attempts", "0"),
    ("max_attempts", str(MAX_ATTEMPTS + 1)),
    ("backoff_jitter", "5"),
    ("backoff_jitter", "-0.1"),
    ("backoff_base_seconds", "0"),
    ("backoff_cap_seconds", "99999999999"),
]


@pytest.mark.parametrize(("field", "value"), REFUSED)
def test_the_form_refuses_each_limit_with_a_field_error(field, value):
    form = JobForm(data=form_data(**{field: value}))
    assert not form.is_valid()
    assert field in form.errors, form.errors
    assert not Job.objects.exists()


def test_an_interval_below_one_second_or_beyond_ten_years_is_refused():
    for value in ("0", "400000000"):
        form = JobForm(data=form_data(schedule_type="interval", cron="", interval_seconds=value))
        assert not form.is_valid() and "interval_seconds" in form.errors


def test_a_cap_below_the_base_is_refused():
    form = JobForm(data=form_data(backoff_base_seconds="60", backoff_cap_seconds="10"))
    assert not form.is_valid() and "backoff_cap_seconds" in form.errors


def test_the_dashboard_editor_shows_the_error_and_stores_nothing(staff_client, settings):
    settings.LANGUAGE_CODE = "en"
    response = staff_client.post("/jobs/new/", form_data(timeout_seconds="1000000", max_attempts="0"))
    assert response.status_code == 200
    assert not Job.objects.exists()
    page = response.content.decode()
    assert "Choose between 1 and" in page and "attempts" in page


def test_import_refuses_out_of_range_values_and_imports_nothing(tmp_path):
    entry = {"name": "too long", "kind": "noop", "schedule_type": "interval", "interval_seconds": 60}
    entry["timeout_seconds"] = 10**6
    message, out, err = call_failing("import_jobs", "-", stdin=json.dumps([entry]))
    assert "timeout_seconds" in message + out + err
    assert not Job.objects.exists()


CONSTRAINED = [
    {"timeout_seconds": 0},
    {"timeout_seconds": TIMEOUT_CEILING + 1},
    {"max_attempts": 0},
    {"max_attempts": MAX_ATTEMPTS + 1},
    {"backoff_jitter": 5},
    {"backoff_jitter": -1},
    {"backoff_base_seconds": 0},
    {"backoff_base_seconds": 700, "backoff_cap_seconds": 600},
    {"interval_seconds": 0},
    {"max_occurrences": 0},
]


@pytest.mark.parametrize("values", CONSTRAINED)
def test_the_database_refuses_what_no_form_checked(values):
    job = make_job(kind="noop")
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.filter(pk=job.pk).update(**values)
    job.refresh_from_db()
    assert job.timeout_seconds == 300 and job.max_attempts == 1
