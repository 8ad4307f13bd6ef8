"""The inputs a careless operator, a hostile user or a messy spreadsheet sends, each reproduced from issue 12:
every one is a field-level refusal that stores nothing, or is quietly ignored where it is only a filter,
never a server error. (The fuzz in test_fuzz_web.py generates many more of the same kinds.)"""

import json
import logging

import pytest
from django.core.management import call_command

from channels_app import tokens
from channels_app.models import Channel, Message
from scheduler.forms import JobForm
from scheduler.models import Job
from scrapers.models import Item, Source
from tests.loopback.organizer import make_source
from tests.scrapers.test_source_views import form_data as source_data
from tests.support.commands import call_failing
from tests.support.factories import job_form_data as job_data
from tests.support.factories import make_job

pytestmark = pytest.mark.django_db
FAR = "9999-12-31T23:59"


@pytest.fixture(autouse=True)
def _operator_clock(settings):
    settings.TIME_ZONE = "America/Sao_Paulo"  # UTC-3: 9999-12-31T23:59 here is year 10000 in UTC
    settings.LANGUAGE_CODE = "en"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"schedule_type": "once", "cron": "", "run_at": FAR}, "run_at"),
        ({"start_at": "9999-12-01T00:00"}, "start_at"),
        ({"end_at": FAR}, "end_at"),
        ({"start_at": "0001-01-01T00:00", "timezone": "Asia/Tokyo"}, "start_at"),
    ],
)
def test_a_far_date_in_a_job_is_a_field_error_on_the_dashboard(staff_client, values, field):
    response = staff_client.post("/jobs/new/", job_data(**values))
    assert response.status_code == 200
    assert "Choose a date between 1900-01-01 and 2199-12-31." in response.content.decode()
    assert not Job.objects.exists()


def test_a_far_date_is_refused_by_the_job_form_the_admin_uses():
    form = JobForm(data=job_data(end_at=FAR))
    assert not form.is_valid() and list(form.errors) == ["end_at"]


def test_the_admin_refuses_a_far_date_with_its_split_fields(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    data = {**job_data(), "run_at_0": "", "run_at_1": "", "start_at_0": "", "start_at_1": ""}
    data.update({"end_at_0": "9999-12-31", "end_at_1": "23:59:00", "schedule_type": "cron"})
    response = client.post("/admin/scheduler/job/add/", data)
    assert response.status_code == 200
    assert "Choose a date between" in response.content.decode()
    assert not Job.objects.exists()


def test_a_source_active_until_the_year_9999_is_a_field_error(staff_client):
    response = staff_client.post("/sources/new/", source_data("http://127.0.0.1:9/", active_until=FAR))
    assert response.status_code == 200
    assert "Choose a date between" in response.content.decode()
    assert not Source.objects.exists()


def test_import_jobs_refuses_a_far_date_in_the_dry_run_as_in_the_import():
    entry = {"name": "far", "kind": "noop", "schedule_type": "once", "run_at": "9999-12-31T23:59:00-03:00"}
    for extra in (["--dry-run"], []):
        message, out, err = call_failing("import_jobs", "-", *extra, stdin=json.dumps([entry]))
        assert "run_at" in message + out + err and "Choose a date between" in message + out + err
    assert not Job.objects.exists()


def test_import_jobs_refuses_json_nested_too_deeply_with_a_message():
    message, out, err = call_failing("import_jobs", "-", stdin="[" * 5000 + "]" * 5000)
    assert "Nested more than 20 levels deep" in message
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('{"a": ' * 5000 + "1" + "}" * 5000, "Nested more than 20 levels deep."),
        ('{"url": NaN}', "NaN is not a JSON number: write a number, or null."),
        ('{"x": "\\u0000"}', "The NUL character"),
        ('{"x": "\\ud800"}', "lone surrogate"),
    ],
)
def test_params_that_no_database_can_store_are_a_field_error(staff_client, params, message):
    response = staff_client.post("/jobs/new/", job_data(params=params))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "/runs/?job=99999999999999999999999",
        "/runs/?job=-1",
        "/runs/?job=%D9%A1",  # Arabic-Indic one
        "/runs/?since=9999-12-31&until=9999-12-31",
        "/runs/?after=9999-12-31T23:59:59-03:00_99999999999999999999999",
        "/runs/?after=9999-12-31T23:59:59-03:00_5",
        "/items/?source=99999999999999999999999",
        "/items/?source=1_0&before=99999999999999999999999&q=x",
        "/jobs/?before=99999999999999999999999",
        "/people/?after=99999999999999999999999",
        "/publications/?person=99999999999999999999999",
        "/deliveries/?channel=99999999999999999999999",
    ],
)
def test_a_hostile_list_filter_shows_the_list_instead_of_a_server_error(viewer_client, query):
    make_job(kind="noop")
    assert viewer_client.get(query).status_code == 200


def test_an_unfiltered_item_list_still_finds_what_a_huge_source_id_would_have_hidden(viewer_client):
    found = make_source("http://127.0.0.1:9/", name="Org")
    Item.objects.create(source=found, key="k1", title="Tarefa 1")
    assert "Tarefa 1" in viewer_client.get("/items/?source=99999999999999999999999").content.decode()


def test_a_host_specific_zone_name_is_refused():
    form = JobForm(data=job_data(timezone="localtime"))
    assert not form.is_valid() and "timezone" in form.errors
    assert not JobForm(data=job_data(timezone="Factory")).is_valid()
    assert JobForm(data=job_data(timezone="America/Sao_Paulo")).is_valid()


# --- the API --------------------------------------------------------------------------------------------
@pytest.fixture
def api(client):
    Channel.objects.create(name="avisos", kind="outbox")
    _, raw = tokens.create("fuzz")
    return client, {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _post(api, body, **extra):
    client, auth = api
    return client.post("/api/v1/messages", body, content_type="application/json", **auth, **extra)


@pytest.mark.parametrize("field", ["body", "key", "service", "to"])
def test_a_lone_surrogate_in_an_api_text_is_a_json_field_error(api, field):
    body = {"channel": "avisos", "service": "s", "key": "k", "body": "oi", field: "a\ud800b"}
    response = _post(api, json.dumps(body))  # json.dumps escapes it as \ud800, as a client would
    assert response.status_code == 422
    assert "unicode" in response.json()["errors"][field][0].lower()
    assert not Message.objects.exists()


def test_a_send_at_in_the_year_9999_with_a_negative_offset_is_a_field_error(api):
    body = {"channel": "avisos", "service": "s", "key": "k", "body": "oi", "send_at": "9999-12-31T23:59:59-03:00"}
    response = _post(api, json.dumps(body))
    assert response.status_code == 422
    assert response.json()["errors"]["send_at"] == ["Choose a time between 1900 and 2199."]
    assert not Message.objects.exists()


def test_an_over_large_api_body_answers_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"channel": "avisos", "service": "s", "key": "k", "body": "x" * 2000}
    response = _post(api, json.dumps(body))
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["errors"]["body"] == ["Too large: send at most 0 KiB."]
    assert not Message.objects.exists()


# --- errors of last resort ----------------------------------------------------------------------------------
@pytest.mark.urls("tests.config.urls_boom")
def test_a_server_error_names_its_request_id_on_the_page_the_response_and_the_log(
    client, django_user_model, settings, caplog
):
    settings.DEBUG = False
    client.force_login(django_user_model.objects.create_user("ana"))
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/boom/")
    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    page = response.content.decode()
    assert request_id in page and "send that id to an administrator" in page and "secret-internal-detail" not in page
    assert any(getattr(record, "request_id", None) == request_id for record in caplog.records)


@pytest.mark.urls("tests.config.urls_boom")
def test_a_server_error_under_the_api_answers_json(client, settings):
    settings.DEBUG = False
    client.raise_request_exception = False
    response = client.get("/api/v1/boom/")
    assert response.status_code == 500
    data = response.json()
    assert data["request_id"] == response["X-Request-ID"] and "administrator" in data["detail"]


def test_an_unknown_api_address_answers_json_and_a_page_keeps_the_layout(viewer_client):
    response = viewer_client.get("/api/v2/messages")
    assert response.status_code == 404 and response.json()["detail"] == "Not found."
    page = viewer_client.get("/no-such-page/")
    assert page.status_code == 404 and 'class="nav"' in page.content.decode()


def test_a_request_id_from_a_trusted_proxy_is_kept_and_any_other_is_replaced(viewer_client, settings):
    settings.VIGIA_BEHIND_PROXY = True
    assert viewer_client.get("/", HTTP_X_REQUEST_ID="proxy-abc-123")["X-Request-ID"] == "proxy-abc-123"
    assert viewer_client.get("/", HTTP_X_REQUEST_ID="bad\r\nid")["X-Request-ID"] != "bad\r\nid"
    settings.VIGIA_BEHIND_PROXY = False
    assert viewer_client.get("/", HTTP_X_REQUEST_ID="proxy-abc-123")["X-Request-ID"] != "proxy-abc-123"


def test_a_command_still_imports_a_date_within_the_range(tmp_path):
    entry = {
        "name": "late",
        "kind": "noop",
        "schedule_type": "cron",
        "cron": "0 9 * * *",
        "end_at": "2199-12-01T00:00Z",
    }
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([entry]))
    call_command("import_jobs", str(path), stdout=open("/dev/null", "w"))
    assert Job.objects.get(name="late").end_at.year == 2199


# --- values sent in HTTP headers --------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\x00b"])
def test_a_source_header_with_a_line_break_or_nul_is_refused_when_saved(staff_client, value):
    headers = json.dumps({"Cookie": value})
    response = staff_client.post("/sources/new/", source_data("http://127.0.0.1:9/", headers=headers))
    page = response.content.decode()
    assert "Header &#x27;Cookie&#x27; contains a line break." in page or "The NUL character" in page
    assert value not in page  # header values may be secrets: named, never echoed in the message
    assert not Source.objects.exists()


def test_a_source_header_name_that_is_not_a_token_is_refused(staff_client):
    response = staff_client.post("/sources/new/", source_data("http://127.0.0.1:9/", headers='{"Bad Name": "x"}'))
    assert "is not a valid header name." in response.content.decode()
    assert not Source.objects.exists()


@pytest.mark.parametrize(("kind", "config"), [("wuzapi", {"base_url": "http://127.0.0.1:9"}), ("webhook", {})])
def test_a_channel_token_with_a_line_break_is_refused_when_saved(kind, config):
    from channels_app.kinds import base as kinds

    name = "token" if kind == "wuzapi" else "secret"
    data = {"url": "http://127.0.0.1:9/hook", **config, name: "0123456789abcdef\r\nX-Evil: 1"}
    form = kinds.get(kind).Config(data=data)
    assert not form.is_valid()
    assert form.errors[name] == ["Remove the line break: this value must be on one line."]


@pytest.mark.parametrize(
    "query",
    [
        "/admin/channels_app/message/?job=9223372036854775808",
        "/admin/auth/user/?id=99999999999999999999999",
        "/admin/scheduler/run/?job__id__exact=99999999999999999999999",
        "/admin/scheduler/run/?job=1,99999999999999999999999",
    ],
)
def test_an_admin_list_refuses_a_huge_id_in_its_query_string_without_a_server_error(client, django_user_model, query):
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    client.raise_request_exception = False
    assert client.get(query).status_code in (200, 302, 400)
