"""Production serving: `check --deploy` is clean once HTTPS is declared (and is not without it), every
page carries the security headers and the Content-Security-Policy, and gunicorn with WhiteNoise serves
the login page, long-cached compressed static files and Secure cookies behind a TLS proxy."""

import os
import re
import subprocess
import sys

import httpx
import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.support.gunicorn import Gunicorn, collectstatic

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def check_deploy(tmp_path, **env):
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("VIGIA_", "DJANGO_", "DEBUG"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY="a-long-random-production-key-" + "x7Qp2LmZ9vR4tW8yB3nK6cF1hJ5sD0gA" * 2,
        VIGIA_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        VIGIA_DATA_DIR=str(tmp_path),
        ALLOWED_HOSTS="vigia.example.org",
        **env,
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_check_deploy_is_clean_when_https_is_declared(tmp_path):
    code, output = check_deploy(tmp_path, VIGIA_HTTPS="1")
    assert code == 0, output
    assert "System check identified no issues" in output


def test_check_deploy_warns_when_https_is_not_declared(tmp_path):
    code, output = check_deploy(tmp_path)
    assert code != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output  # no HSTS, no redirect, cookies not Secure


@pytest.mark.django_db
def test_every_page_carries_the_security_headers(viewer_client, client):
    for response in (viewer_client.get("/"), client.get("/accounts/login/"), viewer_client.get("/no-such-page/")):
        assert response["Content-Security-Policy"] == CSP
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_pages_have_no_inline_script_style_or_handlers(staff_client):
    for path in ("/", "/jobs/new/", "/sources/new/", "/people/new/", "/channels/"):
        html = staff_client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), path  # every script is a file of ours
        assert not re.search(r"\sstyle=|\son[a-z]+=|<style", html), path


@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_the_app_with_static_files_and_secure_cookies_behind_a_tls_proxy(tmp_path, django_user_model):
    # Hashed for the production settings gunicorn runs with (the tests' fast MD5 hasher is not among them).
    django_user_model.objects.create(
        username="ana", password=PBKDF2PasswordHasher().encode("right-pass-123", "salt", 1000)
    )
    env = dict(VIGIA_STATIC_ROOT=tmp_path / "static", VIGIA_HTTPS=1, VIGIA_BEHIND_PROXY=1, DEBUG=0)
    collectstatic(Gunicorn(tmp_path, **env).env)
    with Gunicorn(tmp_path, **env) as web, httpx.Client(base_url=web.url, timeout=10) as http:
        # Plain HTTP (no proxy in front saying otherwise) is sent to HTTPS.
        plain = http.get("/accounts/login/")
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

        https = {"X-Forwarded-Proto": "https", "Origin": f"https://127.0.0.1:{web.port}"}
        page = http.get("/accounts/login/", headers=https)
        assert page.status_code == 200 and "Log in" in page.text
        assert page.headers["Content-Security-Policy"] == CSP
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"  # no preload

        # The stylesheet has a content-hashed name, is cached for good and comes compressed.
        css_url = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text).group(1)
        assert re.fullmatch(r"/static/css/vigia\.[0-9a-f]{12}\.css", css_url)
        css = http.get(css_url, headers={**https, "Accept-Encoding": "gzip"})
        assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
        assert "max-age=315360000" in css.headers["Cache-Control"] and "immutable" in css.headers["Cache-Control"]
        assert css.headers["Content-Encoding"] == "gzip" and ".bars" in css.text

        # Secure cookies: httpx keeps them for https:// only, and gunicorn is spoken to in plain HTTP here.
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        login = http.post(
            "/accounts/login/",
            data={"username": "ana", "password": "right-pass-123", "csrfmiddlewaretoken": token},
            headers={**https, "Cookie": f"csrftoken={page.cookies['csrftoken']}"},
        )
        assert login.status_code == 302 and login.headers["Location"] == "/"
        cookies = {header.split("=", 1)[0]: header for header in login.headers.get_list("Set-Cookie")}
        for name in ("sessionid", "csrftoken"):
            attributes = cookies[name].lower()
            assert "; secure" in attributes and "; httponly" in attributes and "samesite=lax" in attributes
    assert "Traceback" not in web.output()
