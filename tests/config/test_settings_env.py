"""Settings read from the environment: a malformed value stops start-up naming the variable, its value and
what it expects; a blank one means the default."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.settings import env_bool, env_choice, env_float, env_int, env_zone


@pytest.mark.parametrize(
    "reader, value, message",
    [
        (lambda: env_int("X_COUNT", 3), "four", "X_COUNT must be a whole number of at least 0, not 'four'."),
        (lambda: env_int("X_COUNT", 3), "-1", "X_COUNT must be a whole number of at least 0, not '-1'."),
        (lambda: env_int("X_COUNT", 3), "٣", "X_COUNT must be a whole number of at least 0, not '٣'."),
        (lambda: env_int("X_COUNT", 3, low=1, high=9), "10", "X_COUNT must be a whole number from 1 to 9, not '10'."),
        (lambda: env_float("X_RATE", 1.0), "nan", "X_RATE must be a number of at least 0, not 'nan'."),
        (lambda: env_float("X_RATE", 1.0), "inf", "X_RATE must be a number of at least 0, not 'inf'."),
        (lambda: env_float("X_RATE", 1.0), "1,5", "X_RATE must be a number of at least 0, not '1,5'."),
        (
            lambda: env_bool("X_FLAG"),
            "maybe",
            "X_FLAG must be one of 1, true, yes, on, 0, false, no, off, not 'maybe'.",
        ),
        (
            lambda: env_choice("X_LEVEL", "INFO", ["INFO", "DEBUG"]),
            "loud",
            "X_LEVEL must be one of INFO, DEBUG, not 'loud'.",
        ),
        (
            lambda: env_zone("X_ZONE", "UTC"),
            "Mars/Base",
            "X_ZONE must be an IANA time zone like America/Sao_Paulo, not 'Mars/Base'.",
        ),
        (
            lambda: env_zone("X_ZONE", "UTC"),
            "../../etc/passwd",
            "X_ZONE must be an IANA time zone like America/Sao_Paulo, not '../../etc/passwd'.",
        ),
    ],
)
def test_a_malformed_value_names_the_variable_its_value_and_what_it_expects(monkeypatch, reader, value, message):
    for name in ("X_COUNT", "X_RATE", "X_FLAG", "X_LEVEL", "X_ZONE"):
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured) as refused:
        reader()
    assert str(refused.value) == message


def test_good_and_blank_values(monkeypatch):
    monkeypatch.setenv("X_COUNT", " 7 ")
    monkeypatch.setenv("X_RATE", "2.5")
    monkeypatch.setenv("X_FLAG", "YES")
    monkeypatch.setenv("X_ZONE", "America/Manaus")
    assert (env_int("X_COUNT", 3), env_float("X_RATE", 1.0), env_bool("X_FLAG"), env_zone("X_ZONE", "UTC")) == (
        7,
        2.5,
        True,
        "America/Manaus",
    )
    for name in ("X_COUNT", "X_RATE", "X_FLAG", "X_ZONE"):
        monkeypatch.setenv(name, "  ")
    assert (env_int("X_COUNT", 3), env_float("X_RATE", 1.0), env_bool("X_FLAG"), env_zone("X_ZONE", "UTC")) == (
        3,
        1.0,
        False,
        "UTC",
    )


def test_a_process_refuses_to_start_with_a_malformed_setting():
    env = {**os.environ, "VIGIA_WORKERS": "four", "SECRET_KEY": "x", "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "VIGIA_WORKERS must be a whole number of at least 1, not 'four'." in done.stderr


def test_migrations_do_not_depend_on_the_environment_they_are_made_in():
    env = {
        **os.environ,
        "SECRET_KEY": "x",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TIME_ZONE": "UTC",
        "VIGIA_PEOPLE_CHECK_MINUTES": "7",
        "VIGIA_MAX_TIMEOUT": "600",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "No changes detected" in done.stdout, done.stdout + done.stderr


RETAIN_DAYS = "VIGIA_RETAIN_ATTACHMENT_DAYS must be a whole number from 0 to 36500"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("VIGIA_POLL_BURST_SECONDS", "1e14", "VIGIA_POLL_BURST_SECONDS must be a number of seconds from 0 to 86400"),
        ("VIGIA_POLL_BURST_SECONDS", "-5", "VIGIA_POLL_BURST_SECONDS must be a number of seconds from 0 to 86400"),
        ("VIGIA_ATTACHMENT_MAX_BYTES", "0", "VIGIA_ATTACHMENT_MAX_BYTES must be a whole number from 1 to 104857600"),
        ("VIGIA_ATTACHMENT_MAX_BYTES", "10" * 12, "VIGIA_ATTACHMENT_MAX_BYTES must be a whole number from 1 to"),
        ("VIGIA_RETAIN_ATTACHMENT_DAYS", "740000", RETAIN_DAYS),
        ("VIGIA_RETAIN_ATTACHMENT_DAYS", "٣٠", RETAIN_DAYS),
    ],
)
def test_the_attachment_and_polling_settings_refuse_values_that_would_break_later(name, value, message):
    env = {**os.environ, name: value, "SECRET_KEY": "x", "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and message in done.stderr, done.stderr[-500:]
