"""A kind's settings as its own fields (scheduler.shared.kind_fields) on the channel, source and job pages: the
chosen kind's inputs, posted back into the dict the registry validates, errors under their input, "Edit as JSON",
write-only secrets, `name: value` lines for dict settings, and the kind select's swap of the fields."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from channels_app.models import Channel
from scheduler.models import Job
from scheduler.shared import bounds
from scrapers.models import Source
from tests.support.factories import job_form_data, make_job

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
TOKEN = "wuzapi-token-never-shown-1234"
NEW_CHANNEL = reverse("channels_app:channel_new")
NEW_JOB = reverse("scheduler:job_new")
NEW_SOURCE = reverse("scrapers:source_new")


def fields_of(body, prefix):
    """The names of the inputs of the settings block `prefix` (`config-url`...)."""
    return set(re.findall(rf'name="({prefix}-[\w]+)"', body))


def channel_post(**overrides):
    data = {
        "name": "WhatsApp",
        "kind": "wuzapi",
        "enabled": "on",
        "pace_per_minute": "",
        "config_fields": "1",
        "config": '{"stale": "what the textarea held"}',  # ignored: the fields are read
        "config-base_url": "https://wuzapi.example.org/",
        "config-token": TOKEN,
    }
    return {key: value for key, value in {**data, **overrides}.items() if value is not None}


def job_post(**overrides):
    data = job_form_data(kind="http_request", params='{"ignored": 1}', params_fields="1")
    data.update({"params-url": "https://example.org/hook", "params-method": "", "params-headers": ""})
    return {**data, **overrides}


def source_post(**overrides):
    data = {
        "name": "API",
        "kind": "json",
        "url": "https://example.org/tasks.json",
        "config_fields": "1",
        "config": "",
        "config-items_path": "data.tasks",
        "config-fields": "title: name\nlink: url",
        "method": "GET",
        "headers": "",
        "timeout_seconds": "5",
        "interval_seconds": "60",
        "cron": "",
        "timezone": "UTC",
        "enabled": "on",
    }
    return {**data, **overrides}


def wuzapi_channel(**fields):
    fields.setdefault("config", {"base_url": "https://wuzapi.example.org"})
    fields.setdefault("secrets", {"token": TOKEN})
    return Channel.objects.create(name="WhatsApp", kind="wuzapi", **fields)


# --- each page shows the chosen kind's fields ---------------------------------------------------------------------


def test_a_wuzapi_channel_shows_a_base_url_input_and_a_write_only_token(staff_client):
    channel = wuzapi_channel()

    body = staff_client.get(reverse("channels_app:channel", args=[channel.pk])).content.decode()

    assert re.search(r'<label for="id_config-base_url" title="base_url">[^<]+</label>', body)
    assert re.search(r'<input type="text" name="config-base_url" value="https://wuzapi.example.org"[^>]*>', body)
    assert re.search(r'<input type="password" name="config-token" autocomplete="new-password"', body)
    assert 'name="config_as_json" id="id_config_as_json">' in body  # "Edit as JSON" offered, not ticked
    assert '<span class="badge healthy">set</span>' in body and TOKEN not in body
    assert fields_of(body, "config") == {"config-base_url", "config-token"}


def test_an_http_request_job_shows_its_url_method_and_headers_as_lines(staff_client):
    params = {"url": "https://example.org/hook", "method": "POST", "headers": {"Authorization": "Bearer x"}}
    job = make_job(kind="http_request", params=params)

    body = staff_client.get(reverse("scheduler:job", args=[job.pk])).content.decode()

    assert {"params-url", "params-method", "params-headers", "params-query"} <= fields_of(body, "params")
    assert re.search(r'<input type="text" name="params-url" value="https://example.org/hook"', body)
    assert re.search(r'<option value="POST" selected>POST</option>', body)
    # write-only: an empty box, the names stored marked "set", never a value
    assert re.search(r'<textarea name="params-headers"[^>]*>\n</textarea>', body)
    assert "<code>Authorization</code>" in body and "Bearer x" not in body


def test_a_json_source_shows_its_paths_and_its_field_mapping_as_lines(staff_client):
    config = {"items_path": "data.tasks", "fields": {"title": "name", "link": "url"}}
    source = Source.objects.create(name="API", kind="json", url="https://example.org/t.json", config=config)

    body = staff_client.get(reverse("scrapers:source", args=[source.pk])).content.decode()

    assert fields_of(body, "config") == {"config-items_path", "config-fields", "config-attachments"}
    mapping = re.search(r'<textarea name="config-fields"[^>]*>\n([^<]*)</textarea>', body)
    assert mapping and sorted(mapping.group(1).splitlines()) == ["link: url", "title: name"]  # jsonb sorts keys
    assert re.search(r'<textarea name="headers"', body)  # the source's own headers: lines too


def test_new_pages_ask_for_a_kind_first(staff_client):
    for url in (NEW_CHANNEL, NEW_JOB):
        body = staff_client.get(url).content.decode()
        assert "Choose a kind to see its settings." in body
        assert 'hx-get="/kinds/' in body and 'hx-trigger="change"' in body


def test_a_job_its_owner_writes_shows_its_params_read_only(staff_client):
    staff_client.post(NEW_SOURCE, source_post())
    job = Source.objects.get().job

    body = staff_client.get(reverse("scheduler:job", args=[job.pk])).content.decode()

    assert re.search(r'<input type="number" name="params-source_id" value="\d+"[^>]*disabled', body)
    assert 'name="params_as_json"' not in body  # nothing to switch to


# --- posting the fields --------------------------------------------------------------------------------------------


def test_posting_the_fields_creates_the_channel_with_its_settings_and_secret(staff_client):
    response = staff_client.post(NEW_CHANNEL, channel_post())

    channel = Channel.objects.get()
    assert response.status_code == 302
    assert channel.config == {"base_url": "https://wuzapi.example.org"}  # the kind's clean ran
    assert channel.secrets == {"token": TOKEN}


def test_posting_the_fields_creates_the_job_with_headers_lines_stored_as_a_dict(staff_client):
    headers = "Authorization: Bearer x\nX-Team:  plantão \n\n"
    response = staff_client.post(NEW_JOB, job_post(**{"params-headers": headers, "params-query": "page: 2"}))

    job = Job.objects.get()
    assert response.status_code == 302
    assert job.params == {
        "url": "https://example.org/hook",
        "method": "GET",  # the kind's default, as the API's
        "headers": {"Authorization": "********", "X-Team": "********"},  # the names; the values are encrypted
        "query": {"page": "2"},
    }
    assert job.secrets == {"headers": {"Authorization": "Bearer x", "X-Team": "plantão"}}


def test_posting_the_fields_creates_the_source_with_its_field_mapping(staff_client):
    response = staff_client.post(NEW_SOURCE, source_post(headers="Cookie: sid=1"))

    source = Source.objects.get()
    assert response.status_code == 302
    assert source.config == {"items_path": "data.tasks", "fields": {"title": "name", "link": "url"}}
    assert source.headers == {"Cookie": "sid=1"}


@pytest.mark.parametrize(
    "url, data, field, message",
    [
        (NEW_CHANNEL, channel_post(**{"config-base_url": "ftp://x"}), "config-base_url", "Use an http:// or https://"),
        (NEW_JOB, job_post(**{"params-url": "nope"}), "params-url", "Enter an http:// or https:// URL"),
        (NEW_JOB, job_post(**{"params-method": "BREW"}), "params-method", "Select a valid choice."),
        (NEW_SOURCE, source_post(**{"config-fields": "title: name\nwho: x"}), "config-fields", "Unknown field(s): who"),
    ],
)
def test_a_bad_value_is_shown_under_its_field_and_saves_nothing(staff_client, url, data, field, message):
    response = staff_client.post(url, data, **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    error = re.search(rf'<p class="error" id="id_{field}_error">([^<]*)</p>', body)
    assert error and message in error.group(1), body
    assert not (Channel.objects.exists() or Job.objects.exists() or Source.objects.exists())


def test_a_bad_header_line_is_named_without_its_value(staff_client):
    headers = "Accept: */*\nBearer s3cr3t-value"
    response = staff_client.post(NEW_JOB, job_post(**{"params-headers": headers}), **HTMX)

    error = re.search(r'<p class="error" id="id_params-headers_error">([^<]*)</p>', response.content.decode())
    assert error and error.group(1) == "Line 2: write &quot;name: value&quot;."
    assert not Job.objects.exists()


def test_a_missing_required_setting_is_reported_under_its_field(staff_client):
    response = staff_client.post(NEW_CHANNEL, channel_post(**{"config-base_url": ""}), **HTMX)

    assert '<p class="error" id="id_config-base_url_error">This field is required.</p>' in response.content.decode()
    assert not Channel.objects.exists()


def test_without_javascript_a_new_kind_shows_its_fields_after_a_save(staff_client):
    # The select changed to webhook; the page still holds wuzapi's inputs (no HTMX swap happened).
    response = staff_client.post(NEW_CHANNEL, channel_post(kind="webhook"))

    body = response.content.decode()
    assert fields_of(body, "config") == {"config-url", "config-secret"}
    assert '<p class="error" id="id_config-url_error">This field is required.</p>' in body
    assert not Channel.objects.exists()


# --- "Edit as JSON" ---------------------------------------------------------------------------------------------


def test_the_json_toggle_reads_the_textarea_with_the_same_validation(staff_client):
    data = channel_post(config_as_json="on", config='{"base_url": "ftp://x"}', **{"config-base_url": "https://ok.org"})
    response = staff_client.post(NEW_CHANNEL, data, **HTMX)

    body = response.content.decode()
    assert '<p class="error" id="id_config_error">base_url: Use an http:// or https:// address with a host.' in body
    assert 'name="config_as_json" id="id_config_as_json" checked>' in body  # stays ticked
    assert not Channel.objects.exists()

    staff_client.post(NEW_CHANNEL, {**data, "config": '{"base_url": "https://json.example.org"}'})
    channel = Channel.objects.get()
    assert channel.config == {"base_url": "https://json.example.org"} and channel.secrets == {"token": TOKEN}


def test_the_json_toggle_of_a_job_reads_its_params(staff_client):
    params = '{"url": "https://example.org/x", "headers": {"A": "1"}, "query": {"n": 2}}'
    staff_client.post(NEW_JOB, job_post(params_as_json="on", params=params))

    job = Job.objects.get()
    assert job.params == {
        "url": "https://example.org/x",
        "method": "GET",
        "headers": {"A": "********"},
        "query": {"n": 2},  # JSON keeps the number
    }
    assert job.secrets == {"headers": {"A": "1"}}


# --- secrets ---------------------------------------------------------------------------------------------------


def test_an_empty_secret_keeps_the_stored_one_and_a_typed_one_replaces_it(staff_client):
    channel = wuzapi_channel()
    url = reverse("channels_app:channel", args=[channel.pk])

    staff_client.post(url, channel_post(name="Team", **{"config-token": ""}))
    channel.refresh_from_db()
    assert channel.name == "Team" and channel.secrets == {"token": TOKEN}

    staff_client.post(url, channel_post(**{"config-token": "another-token"}))
    channel.refresh_from_db()
    assert channel.secrets == {"token": "another-token"}


def test_a_secret_is_never_sent_back_even_with_errors(staff_client):
    channel = wuzapi_channel(secrets={})
    url = reverse("channels_app:channel", args=[channel.pk])

    body = staff_client.get(url).content.decode()
    assert '<span class="badge broken">not set</span>' in body

    typed = "typed-but-refused-5678"
    response = staff_client.post(url, channel_post(**{"config-base_url": "nope", "config-token": typed}), **HTMX)
    body = response.content.decode()
    assert "Use an http:// or https:// address with a host." in body
    assert typed not in body and TOKEN not in body
    channel.refresh_from_db()
    assert channel.secrets == {}


def test_a_missing_secret_is_reported_under_its_input(staff_client):
    response = staff_client.post(NEW_CHANNEL, channel_post(**{"config-token": ""}), **HTMX)

    assert '<p class="error" id="id_config-token_error">This field is required.</p>' in response.content.decode()
    assert not Channel.objects.exists()


def test_the_admin_edits_a_channel_with_the_same_fields(admin_client):
    add = reverse("admin:channels_app_channel_add")
    assert "Choose a kind to see its settings." in admin_client.get(add).content.decode()

    response = admin_client.post(add, {**channel_post(), "_save": "Save"})

    assert response.status_code == 302
    channel = Channel.objects.get()
    assert channel.config == {"base_url": "https://wuzapi.example.org"} and channel.secrets == {"token": TOKEN}
    page = admin_client.get(reverse("admin:channels_app_channel_change", args=[channel.pk])).content.decode()
    assert 'name="config-base_url"' in page and TOKEN not in page


# --- the kind select's swap ------------------------------------------------------------------------------------


def test_the_swap_endpoint_returns_the_other_kinds_fields(viewer_client):
    body = viewer_client.get("/kinds/channels/fields/?kind=webhook", **HTMX).content.decode()
    assert body.lstrip().startswith('<fieldset class="kind-settings" id="id_config_settings">')
    assert fields_of(body, "config") == {"config-url", "config-secret"}

    body = viewer_client.get("/kinds/jobs/fields/?kind=http_request", **HTMX).content.decode()
    assert {"params-url", "params-method", "params-headers"} <= fields_of(body, "params")

    body = viewer_client.get("/kinds/sources/fields/?kind=html", **HTMX).content.decode()
    assert "config-items" in fields_of(body, "config")

    assert "Choose a kind" in viewer_client.get("/kinds/jobs/fields/?kind=nope").content.decode()
    assert viewer_client.get("/kinds/people/fields/?kind=x").status_code == 404


def test_the_swap_endpoint_needs_a_login(client):
    response = client.get("/kinds/channels/fields/?kind=wuzapi", **HTMX)
    assert response.status_code in (302, 401, 403) and "kind-settings" not in response.content.decode()


# --- `name: value` lines ---------------------------------------------------------------------------------------


def test_name_value_field_reads_lines_dicts_and_json():
    field = bounds.NameValueField(required=False)
    assert field.clean("Authorization: Bearer a:b\n\nX-One:1") == {"Authorization": "Bearer a:b", "X-One": "1"}
    assert field.clean({"A": 1}) == {"A": 1}  # the API's JSON object, as it was
    assert field.clean(' {"A": [1, 2]} ') == {"A": [1, 2]}
    assert field.clean("") is None
    with pytest.raises(ValidationError, match="Line 2: 'A' is given twice."):
        field.clean("A: 1\nA: 2")
    with pytest.raises(ValidationError, match='Line 1: write "name: value".'):
        field.clean(": nameless")


def test_name_value_field_shows_lines_only_when_they_read_back_the_same():
    field = bounds.NameValueField(required=False)
    assert field.prepare_value({"A": "1", "B": "x y"}) == "A: 1\nB: x y"
    assert field.prepare_value({"page": 2}) == '{"page": 2}'  # a number stays a number
    assert field.prepare_value({"a:b": "1"}) == '{"a:b": "1"}'
    assert field.prepare_value(None) == ""
