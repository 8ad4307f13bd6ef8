"""An organizer site behind a login, as a typical PHP/Django site does it (served by a LoopbackServer).

    GET  /login     the form: a hidden CSRF input, and a csrftoken cookie it must come back with
    POST /login     the right user, password and token: a `sessionid` cookie and a 302 to ?next= (default
                    /tarefas); a wrong password: the form again with "Usuário ou senha inválidos" (200); a
                    missing or wrong token: 403
    GET  /tarefas   with a live session: the tasks (tests.loopback.organizer.page); without one: a 302 to
                    /login?next=/tarefas

Sessions expire after `session_seconds` (None: never), or at once with expire_sessions(). `login_attempts`
counts the POSTs to /login (a test checks that a rejected login is not tried again).
"""

import secrets
import threading
import time
from html import escape
from urllib.parse import parse_qs

from tests.loopback import organizer
from tests.loopback.server import LoopbackServer, Response

USER, PASSWORD = "equipe@example.org", "s3nha-secreta"
INVALID = "Usuário ou senha inválidos"


class LoginSite:
    def __init__(self, user=USER, password=PASSWORD, session_seconds=None):
        self.user, self.password, self.session_seconds = user, password, session_seconds
        self.tasks = []  # (id, title, body), as organizer.page takes them
        self.login_attempts = 0
        self.pages_served = 0  # /tarefas answered with the tasks
        self._sessions = {}  # sessionid → when it expires (time.monotonic()), None: never
        self._lock = threading.Lock()
        self.server = LoopbackServer(fallback=self._answer)

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop()

    @property
    def url(self):
        return self.server.url

    def expire_sessions(self):
        with self._lock:
            self._sessions.clear()

    def make_source(self, **fields):
        """A source on /tarefas that logs in with this site's user and password (through SourceForm)."""
        login = {"login_url": self.url + "/login", "login_fields": {"email": self.user, "senha": self.password}}
        return organizer.make_source(self.url + "/tarefas", **{**login, **fields})

    # --- the site ---------------------------------------------------------------------------------------
    def _answer(self, request):
        if request.path == "/login" and request.method == "POST":
            return self._log_in(request)
        if request.path == "/login":
            return self._form(request.query.get("next", ["/tarefas"])[0])
        if request.path == "/tarefas":
            if not self._live(_cookies(request).get("sessionid")):
                return Response(302, headers={"Location": "/login?next=/tarefas"})
            with self._lock:
                self.pages_served += 1
            return Response(body=organizer.page(*self.tasks), headers={"Content-Type": "text/html; charset=utf-8"})
        return Response(404, "not found")

    def _form(self, next_url, error="", token=None):
        token = token or secrets.token_hex(16)
        message = f'<p class="erro">{escape(error)}</p>' if error else ""
        html = (
            "<html><head><meta charset='utf-8'><title>Entrar</title></head><body>"
            f'{message}<form method="post" action="/login?next={escape(next_url)}">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
            '<input type="email" name="email"><input type="password" name="senha">'
            '<button type="submit">Entrar</button></form></body></html>'
        )
        headers = {"Content-Type": "text/html; charset=utf-8", "Set-Cookie": f"csrftoken={token}; Path=/; SameSite=Lax"}
        return Response(body=html, headers=headers)

    def _log_in(self, request):
        with self._lock:
            self.login_attempts += 1
        posted = {name: values[0] for name, values in parse_qs(request.text, keep_blank_values=True).items()}
        token = _cookies(request).get("csrftoken")
        if not token or posted.get("csrfmiddlewaretoken") != token:
            return Response(403, "CSRF verification failed")
        next_url = request.query.get("next", ["/tarefas"])[0]
        if (posted.get("email"), posted.get("senha")) != (self.user, self.password):
            return self._form(next_url, INVALID, token)
        session = secrets.token_hex(16)
        with self._lock:
            self._sessions[session] = None if self.session_seconds is None else time.monotonic() + self.session_seconds
        cookie = f"sessionid={session}; HttpOnly; Path=/; SameSite=Lax"
        return Response(302, headers={"Location": next_url, "Set-Cookie": cookie})

    def _live(self, session):
        with self._lock:
            if session not in self._sessions:
                return False
            expires = self._sessions[session]
            return expires is None or time.monotonic() < expires


def _cookies(request):
    found = {}
    for part in (request.header("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            found[name] = value
    return found
