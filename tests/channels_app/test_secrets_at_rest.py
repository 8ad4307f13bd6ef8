"""Channel secrets encrypted at rest (scheduler.shared.crypto, scheduler.shared.fields): ciphertext in the column,
key rotation, a wrong or malformed key, the migration of plaintext rows, and no secret in error reports."""

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory, override_settings
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from channels_app import forms as channel_forms
from channels_app.kinds import base as kinds
from channels_app.models import Channel, Delivery
from scheduler.errors import JobError
from scheduler.shared import crypto, logs
from scheduler.shared.fields import Sealed
from tests.loopback.server import LoopbackServer

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
TOKEN = "wuzapi-token-h73-do-not-leak"
HOOK_SECRET = "whsec-h73-never-in-the-column"


def raw_secrets(name):
    """The column as stored, read with a cursor (no model field in the way)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM channels_app_channel WHERE name = %s", [name])
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else json.dumps(value)  # a jsonb column comes back decoded


def hook(name="hook", secret=HOOK_SECRET):
    return Channel.objects.create(
        name=name, kind="webhook", config={"url": "http://127.0.0.1:9/"}, secrets={"secret": secret}
    )


# --- the column ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_column_holds_ciphertext_and_the_model_gives_the_secret_back():
    hook()
    raw = raw_secrets("hook")
    assert HOOK_SECRET not in raw and "secret" not in raw
    assert raw.startswith("gAAAAA")  # a Fernet token
    assert Channel.objects.get(name="hook").secrets == {"secret": HOOK_SECRET}


@pytest.mark.django_db
def test_saving_other_fields_keeps_the_ciphertext_and_a_new_secret_replaces_it():
    channel = hook()
    before = raw_secrets("hook")
    channel = Channel.objects.get(pk=channel.pk)
    channel.enabled = False
    channel.save()
    assert raw_secrets("hook") == before  # not decrypted and re-encrypted for an unrelated change
    channel.secrets = {"secret": "another-secret-of-16+"}
    channel.save()
    assert raw_secrets("hook") != before
    assert Channel.objects.get(pk=channel.pk).secrets == {"secret": "another-secret-of-16+"}


@pytest.mark.django_db
def test_repr_and_dumpdata_never_show_the_plaintext():
    channel = hook()
    channel = Channel.objects.get(pk=channel.pk)
    assert HOOK_SECRET not in repr(channel.secrets) and HOOK_SECRET not in repr(channel.secrets["secret"])
    assert repr(channel.secrets) == "{'secret': '********'}"
    out = StringIO()
    call_command("dumpdata", "channels_app.channel", stdout=out)
    assert HOOK_SECRET not in out.getvalue()
    Channel.objects.all().delete()
    dump = out.getvalue()
    path = settings.DATA_DIR / f"channels-{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)  # a fresh clone tested on PostgreSQL has no data/ yet
    path.write_text(dump)
    try:
        call_command("loaddata", str(path), verbosity=0)
    finally:
        path.unlink()
    assert Channel.objects.get(name="hook").secrets == {"secret": HOOK_SECRET}


@pytest.mark.django_db
def test_a_decrypted_secret_is_masked_in_log_lines_from_then_on():
    unique = f"chan-secret-{os.getpid()}-only-in-the-db"
    channel = hook()
    Channel.objects.filter(pk=channel.pk).update(secrets=Sealed(crypto.encrypt(json.dumps({"secret": unique}))))
    line = f"upstream echoed {unique[::-1]} after we sent {unique}"
    assert unique in logs.redact(line)  # not known to this process yet
    assert Channel.objects.get(pk=channel.pk).secrets["secret"] == unique  # decrypted for a send
    assert unique not in logs.redact(line) and unique[::-1] in logs.redact(line)


# --- keys ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotate_secrets_moves_every_secret_to_the_first_key():
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A]):
        hook()
        before = raw_secrets("hook")
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        out = StringIO()
        call_command("rotate_secrets", stdout=out)
        assert "Re-encrypted 1 stored secret" in out.getvalue()
    after = raw_secrets("hook")
    assert after != before and HOOK_SECRET not in after
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_B]):  # the old key can go now
        assert Channel.objects.get(name="hook").secrets == {"secret": HOOK_SECRET}
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A]):
        with pytest.raises(crypto.SecretsUnreadable):
            Channel.objects.get(name="hook").secrets  # noqa: B018


@pytest.mark.django_db
def test_secrets_stored_with_the_derived_key_still_open_once_keys_are_set():
    hook()  # VIGIA_ENCRYPTION_KEYS unset in the tests: the key derived from SECRET_KEY
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A]):
        assert Channel.objects.get(name="hook").secrets == {"secret": HOOK_SECRET}
        call_command("rotate_secrets", stdout=StringIO())
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A], SECRET_KEY="a-different-secret-key"):
        assert Channel.objects.get(name="hook").secrets == {"secret": HOOK_SECRET}


@pytest.mark.django_db
def test_a_wrong_key_names_the_channel_and_never_the_secret_or_ciphertext():
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A]):
        channel = hook(name="Alerts hook")
    raw = raw_secrets("Alerts hook")
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_B]):
        channel = Channel.objects.get(pk=channel.pk)  # loading (a list page) needs no key
        with pytest.raises(crypto.SecretsUnreadable) as caught:
            channel.secrets  # noqa: B018
        message = str(caught.value)
        assert "Alerts hook" in message and "VIGIA_ENCRYPTION_KEYS" in message
        assert raw not in message and raw[:20] not in message and HOOK_SECRET not in message
        # The admin's summary says so instead of failing; a delivery waits to retry with the reason.
        assert "cannot be decrypted" in channel_forms.secrets_summary(channel)
        delivery = channel_forms.test_send(channel, "")  # to no recipient: tried once, not retried
        assert delivery.status == Delivery.Status.FAILED
        assert "Alerts hook" in delivery.error and raw[:20] not in delivery.error
        with pytest.raises(CommandError, match="secrets of channel 'Alerts hook"):
            call_command("rotate_secrets", stdout=StringIO())


@pytest.mark.django_db
def test_entering_the_secrets_again_recovers_a_channel_whose_key_was_lost():
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A]):
        channel = hook()
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_B]):
        data = {"name": "hook", "kind": "webhook", "enabled": "on", "config": json.dumps(channel.config)}
        form = channel_forms.ChannelForm(data={**data, "secrets": ""}, instance=Channel.objects.get(pk=channel.pk))
        assert not form.is_valid() and "secrets" in form.errors  # the unreadable secret counts as missing
        fresh = json.dumps({"secret": "a-brand-new-secret-16"})
        form = channel_forms.ChannelForm(data={**data, "secrets": fresh}, instance=Channel.objects.get(pk=channel.pk))
        assert form.is_valid(), form.errors
        form.save()
        assert Channel.objects.get(pk=channel.pk).secrets == {"secret": "a-brand-new-secret-16"}


def test_a_malformed_key_is_refused_without_echoing_it():
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A, "not-a-fernet-key"]):
        with pytest.raises(ImproperlyConfigured, match="key number 2 of 2 is not a Fernet key") as caught:
            crypto.keyring()
        assert "not-a-fernet-key" not in str(caught.value)


def test_a_malformed_key_stops_startup_with_a_clear_error():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "VIGIA_ENCRYPTION_KEYS": "not-a-fernet-key-h73",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: VIGIA_ENCRYPTION_KEYS: key number 1 of 1 is not a Fernet key" in done.stderr
    assert "not-a-fernet-key-h73" not in done.stderr + done.stdout


def test_check_deploy_warns_until_keys_are_set():
    def ids():
        return {issue.id for issue in run_checks(include_deployment_checks=True, tags=["security"])}

    with override_settings(VIGIA_ENCRYPTION_KEYS=[]):
        assert "vigia.W001" in ids()
        assert "vigia.W001" not in {issue.id for issue in run_checks(tags=["security"])}  # a deploy check only
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A]):
        assert "vigia.W001" not in ids()


# --- the migration ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_plaintext_rows_and_reverses():
    before, after = (
        [("channels_app", "0002_channels_and_deliveries")],
        [("channels_app", "0003_encrypt_channel_secrets")],
    )
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old_apps = executor.loader.project_state(before).apps
        old_apps.get_model("channels_app", "Channel").objects.create(
            name="legacy", kind="wuzapi", config={"base_url": "http://wuzapi:8080"}, secrets={"token": TOKEN}
        )
        assert TOKEN in raw_secrets("legacy")  # plaintext before

        executor.loader.build_graph()
        executor.migrate(after)
        assert TOKEN not in raw_secrets("legacy") and raw_secrets("legacy").startswith("gAAAAA")
        assert Channel.objects.only("secrets").get(name="legacy").secrets == {"token": TOKEN}

        executor.loader.build_graph()
        executor.migrate(before)  # reversible: plaintext again
        assert json.loads(raw_secrets("legacy")) == {"token": TOKEN}
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


# --- error reports ------------------------------------------------------------------------------------


def _send(channel_pk):
    channel = Channel.objects.get(pk=channel_pk)
    message = kinds.Outgoing(key="vigia-1", subject="", text="hello")
    return kinds.get(channel.kind).send(channel.config, channel.secrets, "5511987654321", message)


def _report_of_failed_send(channel_pk, request):
    try:
        _send(channel_pk)
    except JobError:
        reporter = ExceptionReporter(request, *sys.exc_info())
        return reporter.get_traceback_text() + reporter.get_traceback_html()
    raise AssertionError("the send was expected to fail")


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_the_500_report_of_a_failed_send_holds_no_secret(debug):
    with LoopbackServer() as wuzapi:
        wuzapi.respond("/chat/send/text", body=["not", "what", "wuzapi", "answers"])  # fails inside the kind
        channel = Channel.objects.create(
            name="whatsapp", kind="wuzapi", config={"base_url": wuzapi.url}, secrets={"token": TOKEN}
        )
        request = RequestFactory().post(
            f"/channels/{channel.pk}/", {"name": "whatsapp", "secrets": json.dumps({"token": TOKEN})}
        )
        request.META["VIGIA_ENCRYPTION_KEYS"] = KEY_A  # as a dev server's environ would carry it
        with override_settings(DEBUG=debug, VIGIA_ENCRYPTION_KEYS=[KEY_A]):
            report = _report_of_failed_send(channel.pk, request)
        assert wuzapi.requests[0].headers["token"] == TOKEN  # the send did use the secret
    assert "_send_part" in report and "does not lead to Wuzapi" in report  # the report is there
    assert TOKEN not in report
    assert KEY_A not in report
    assert "VIGIA_ENCRYPTION_KEYS" in report  # listed, with its value hidden


def test_settings_named_like_keys_are_hidden_in_error_reports():
    mailers = {"default": {**settings.MAILERS["default"], "OPTIONS": {"password": "smtp-pass-h73"}}}
    with override_settings(VIGIA_ENCRYPTION_KEYS=[KEY_A], MAILERS=mailers):
        safe = SafeExceptionReporterFilter().get_safe_settings()
    hidden = SafeExceptionReporterFilter.cleansed_substitute
    assert safe["VIGIA_ENCRYPTION_KEYS"] == hidden
    assert safe["SECRET_KEY"] == hidden
    assert safe["MAILERS"]["default"]["OPTIONS"]["password"] == hidden
