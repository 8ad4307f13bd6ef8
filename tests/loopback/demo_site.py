"""The demo organizer site `manage.py up` runs beside Vigia: a gincana organizer's task page, labelled as a demo,
that publishes a new task every minute, so a newcomer sees a source find items and deliver them.

    python -m tests.loopback.demo_site --port 8001      # http://127.0.0.1:8001/tarefas (loopback only)

Standard library only (no Django): `up` runs it as a child process only when this file exists, so an image built
without tests/ has no demo site. Tasks follow the wall clock: one for the minute the site started (the first
check finds it at once), then one at the start of every minute, each named after its minute, so a restart
renumbers nothing (a task's id is its minute). The page keeps the newest KEEP, newest first, in the markup the
html kind reads (CONFIG), and answers conditional requests (ETag, Last-Modified) with 304 as a real site would.
"""

import argparse
import hashlib
import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

LABEL = "Demonstração do Vigia — site de exemplo de organizador de gincana"
PATH = "/tarefas"
KEEP = 20  # tasks on the page
ZONE = ZoneInfo("America/Sao_Paulo")  # the demo's clock, as the demo jobs'
# The html kind's settings that read this page (the demo source's config).
CONFIG = {"items": "li.task", "title": "h3", "link": "a@href", "body": "p", "id": "@data-id", "date": "time@datetime"}
CHALLENGES = [
    ("Foto com algo azul", "Fotografem a equipe inteira segurando algo azul."),
    ("Hino da equipe", "Gravem um vídeo de 30 segundos cantando o hino da equipe."),
    ("Pirâmide humana", "Montem uma pirâmide humana com pelo menos seis pessoas."),
    ("Receita de bolo", "Tragam a receita de bolo mais antiga da família de alguém da equipe."),
    ("Tampinhas", "Juntem 100 tampinhas de garrafa para a reciclagem."),
    ("Trava-língua", "Digam três vezes seguidas, sem errar: o rato roeu a roupa do rei de Roma."),
    ("Mascote", "Criem um mascote para a equipe com material reciclado."),
    ("Doação de livros", "Arrecadem cinco livros infantis para a biblioteca do bairro."),
    ("Dança", "Ensaiem uma coreografia e gravem a equipe dançando."),
    ("Charada", "O que é, o que é: quanto mais se tira, maior fica? Respondam no grupo."),
    ("Selfie histórica", "Tirem uma selfie em frente ao prédio mais antigo da cidade."),
    ("Poema", "Escrevam um poema de quatro versos sobre a gincana."),
]


@dataclass(frozen=True)
class Task:
    minute: int  # minutes since the Unix epoch: its id

    @property
    def id(self) -> str:
        return str(self.minute)

    @property
    def published(self) -> datetime:
        return datetime.fromtimestamp(self.minute * 60, UTC)

    @property
    def title(self) -> str:
        name, _ = CHALLENGES[self.minute % len(CHALLENGES)]
        return f"Tarefa das {self.published.astimezone(ZONE):%Hh%M}: {name}"

    @property
    def body(self) -> str:
        _, text = CHALLENGES[self.minute % len(CHALLENGES)]
        return f"{text} Vale {10 * (1 + self.minute % 5)} pontos."


class DemoSite:
    """The page's contents at any moment; `clock` (Unix seconds) is injected by tests."""

    def __init__(self, clock: Callable[[], float] = time.time, started: float | None = None) -> None:
        self.clock = clock
        self.first = int((clock() if started is None else started) // 60)

    def tasks(self) -> list[Task]:
        """The tasks published so far, newest first, at most KEEP."""
        last = max(self.first, int(self.clock() // 60))
        return [Task(minute) for minute in range(last, max(self.first, last - KEEP + 1) - 1, -1)]

    def page(self, tasks: list[Task]) -> str:
        rows = "".join(
            f'<li class="task" data-id="{task.id}"><h3>{html.escape(task.title)}</h3>'
            f'<time datetime="{task.published.isoformat()}">{task.published.astimezone(ZONE):%d/%m %H:%M}</time>'
            f"<p>{html.escape(task.body)}</p>"
            f'<a href="{PATH}/{task.id}">ver a tarefa</a></li>'
            for task in tasks
        )
        return (
            '<!doctype html><html lang="pt-BR"><head><meta charset="utf-8">'
            f"<title>{LABEL}</title></head><body>"
            f'<p class="demo-banner"><strong>{LABEL}</strong>. Este site roda só na sua máquina, para mostrar o '
            "Vigia funcionando: publica uma tarefa nova a cada minuto. Não é um organizador de verdade.</p>"
            f'<h1>Tarefas da gincana</h1><ul class="tasks">{rows}</ul></body></html>'
        )

    def detail(self, task: Task) -> str:
        return (
            f'<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><title>{html.escape(task.title)}</title>'
            f'</head><body><p class="demo-banner"><strong>{LABEL}</strong></p><h1>{html.escape(task.title)}</h1>'
            f'<p>{html.escape(task.body)}</p><p><a href="{PATH}">todas as tarefas</a></p></body></html>'
        )

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """(status, headers, body) for a GET of `path`; `headers` with lower-case names."""
        tasks = self.tasks()
        if path in ("/", PATH):
            newest = tasks[0].published
            fields = {
                "ETag": '"' + hashlib.sha256(f"{self.first}-{tasks[0].minute}".encode()).hexdigest()[:16] + '"',
                "Last-Modified": formatdate(newest.timestamp(), usegmt=True),
                "Cache-Control": "no-cache",
            }
            if _fresh(headers, fields["ETag"], newest):
                return 304, fields, ""
            return 200, {**fields, "Content-Type": "text/html; charset=utf-8"}, self.page(tasks)
        found = re.fullmatch(rf"{PATH}/(\d+)", path)
        task = next((task for task in tasks if found and task.id == found[1]), None)
        if task is not None:
            return 200, {"Content-Type": "text/html; charset=utf-8"}, self.detail(task)
        return 404, {"Content-Type": "text/plain; charset=utf-8"}, f"{LABEL}: página não encontrada.\n"


def _fresh(headers: dict[str, str], etag: str, modified: datetime) -> bool:
    """Whether the client's copy is current (RFC 9110: If-None-Match, when sent, decides alone)."""
    if "if-none-match" in headers:
        return any(tag.strip() in (etag, f"W/{etag}", "*") for tag in headers["if-none-match"].split(","))
    try:
        since = parsedate_to_datetime(headers.get("if-modified-since", ""))
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and since >= modified


def server(site: DemoSite, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The HTTP server for `site` (not serving yet: call serve_forever)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, fields, body = site.answer(self.path.split("?")[0], {k.lower(): v for k, v in self.headers.items()})
            data = body.encode()
            self.send_response(status)
            for name, value in fields.items():
                self.send_header(name, value)
            if status != 304:  # a 304 has no body, whatever it would say the page's length is
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_HEAD = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass  # a request every few seconds: `up`'s output stays readable

    return _Server((host, port), Handler)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a kept-alive connection does not hold the process at exit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=f"{LABEL} (a new task every minute, on 127.0.0.1).")
    parser.add_argument("--port", type=int, default=8001)
    options = parser.parse_args(argv)
    httpd = server(DemoSite(), options.port)
    print(f"{LABEL}: http://127.0.0.1:{httpd.server_address[1]}{PATH} (uma tarefa nova a cada minuto)", flush=True)
    try:
        httpd.serve_forever(1.0)  # the interval only bounds shutdown(), which nothing here calls
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
