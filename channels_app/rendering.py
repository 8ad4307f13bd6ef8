"""Message wording: a template per event type in Django's template language (an operator's, else the
built-in default), and WhatsApp-style positional placeholders ({{1}}, {{2}}) for messages sent through
the API. Messages are plain text: nothing is HTML-escaped here (the e-mail kind escapes its HTML part).

An event is rendered inside the transaction of the work that publishes it (a source check storing its
items, a run's ending), and a delivery problem must never fail that work: render() never raises. An
operator's template that fails (an {% include %} of a missing file, a filter raising on one event's
values, a loop running too long, a text too long) is replaced by the built-in wording, and the reason is
returned to be recorded on the deliveries. A template is tried on a sample event of its type before it is
saved (trial()), so most such templates never get that far.
"""

import functools
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.template import Context, Engine, Template, TemplateSyntaxError, VariableDoesNotExist
from django.template.base import Node
from django.template.context import ContextDict
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from scheduler.shared import rawsql

log = logging.getLogger("vigia.deliveries")
# Plain text: '&' must reach WhatsApp as '&', not '&amp;'. local_date: dates as the message's language writes them.
BUILTINS = ["channels_app.message_filters"]
ENGINE = Engine(autoescape=False, builtins=BUILTINS)
POSITIONAL = re.compile(r"\{\{\s*(\d{1,2})\s*\}\}")

DEFAULTS = {
    "item.new": (
        "{{ source_name }}: {{ title }}",
        "🆕 {{ source_name }}\n*{{ title }}*{% if body %}\n{{ body|truncatechars:1500 }}{% endif %}"
        "{% if url %}\n{{ url }}{% endif %}",
    ),
    "item.updated": (
        "{{ source_name }} (alterado): {{ title }}",
        "✏️ {{ source_name }} — alterado\n*{{ title }}*{% if body %}\n{{ body|truncatechars:1500 }}{% endif %}"
        "{% if url %}\n{{ url }}{% endif %}",
    ),
    "publication.new": (
        "Nova publicação: {{ person_name }}",
        "⚖️ Nova publicação para *{{ person_name }}*\n{{ tribunal }} · {{ date|local_date }} · {{ type_label }}\n"
        "Processo {{ process }}\n{{ organ }}\n\n{{ text|truncatechars:1500 }}{% if link %}\n{{ link }}{% endif %}",
    ),
    "job.failed": (
        "Falha: {{ job_name }}",
        "❌ A rotina *{{ job_name }}* {% if status == 'timed_out' %}excedeu o tempo limite{% else %}falhou{% endif %}"
        "{% if attempt %} após {{ attempt }} tentativa{{ attempt|pluralize }}{% endif %}"
        "{% if failures > 1 %} ({{ failures }} vezes seguidas){% endif %}.\n{{ error|truncatechars:1000 }}",
    ),
    "source.broken": (
        "Fonte com problema: {{ source_name }}",
        "⚠️ A fonte *{{ source_name }}* está falhando.\n{{ error|truncatechars:1000 }}",
    ),
    "source.recovered": ("Fonte recuperada: {{ source_name }}", "✅ A fonte *{{ source_name }}* voltou a funcionar."),
    "source.still_broken": (
        "Fonte ainda com problema: {{ source_name }}",
        "⏰ A fonte *{{ source_name }}* continua falhando ({{ failures }} falha{{ failures|pluralize }} seguida"
        "{{ failures|pluralize }}).\n{{ error|truncatechars:500 }}{% if link %}\n{{ link }}{% endif %}",
    ),
    "job.still_failing": (
        "Ainda falhando: {{ job_name }}",
        "⏰ A rotina *{{ job_name }}* continua falhando ({{ failures }} falha{{ failures|pluralize }} seguida"
        "{{ failures|pluralize }}).\n{{ error|truncatechars:500 }}",
    ),
    "job.recovered": ("Rotina recuperada: {{ job_name }}", "✅ A rotina *{{ job_name }}* voltou a funcionar."),
    "job.late": (
        "Atrasada: {{ job_name }}",
        "⏳ A rotina *{{ job_name }}* não teve sucesso no prazo.\n{{ error|truncatechars:500 }}",
    ),
    "job.still_late": (
        "Ainda atrasada: {{ job_name }}",
        "⏰ A rotina *{{ job_name }}* continua sem sucesso no prazo.\n{{ error|truncatechars:500 }}",
    ),
    "job.on_time": ("Rotina em dia: {{ job_name }}", "✅ A rotina *{{ job_name }}* voltou a ter sucesso."),
    "person.failing": (
        "Consulta com problema: {{ person_name }}",
        "⚠️ A consulta de publicações de *{{ person_name }}* está falhando.\n{{ error|truncatechars:1000 }}",
    ),
    "person.still_failing": (
        "Consulta ainda com problema: {{ person_name }}",
        "⏰ A consulta de publicações de *{{ person_name }}* continua falhando.\n{{ error|truncatechars:500 }}",
    ),
    "person.recovered": (
        "Consulta recuperada: {{ person_name }}",
        "✅ A consulta de publicações de *{{ person_name }}* voltou a funcionar.",
    ),
    "channel.down": (
        "Canal fora do ar: {{ channel_name }}",
        "📵 O canal *{{ channel_name }}* não está entregando mensagens.\n{{ error|truncatechars:1000 }}",
    ),
    "channel.still_down": (
        "Canal ainda fora do ar: {{ channel_name }}",
        "⏰ O canal *{{ channel_name }}* continua sem entregar mensagens.\n{{ error|truncatechars:500 }}",
    ),
    "channel.recovered": ("Canal de volta: {{ channel_name }}", "✅ O canal *{{ channel_name }}* voltou a entregar."),
    "system.alert": ("Vigia: {{ name }}", "🚨 Vigia: *{{ name }}*\n{{ error|truncatechars:1000 }}"),
    "system.still_alerting": (
        "Vigia, ainda: {{ name }}",
        "⏰ Vigia, ainda: *{{ name }}*\n{{ error|truncatechars:500 }}",
    ),
    "system.recovered": ("Vigia normalizado: {{ name }}", "✅ Vigia: *{{ name }}* normalizado."),
    "people.expired": (
        "Monitoramentos encerrados: {{ count }}",
        "⌛ {{ count }} monitoramento{{ count|pluralize }} encerrado{{ count|pluralize }}:"
        "{% for person in people %}\n- {{ person.name }} (até {{ person.until|local_date }}){% endfor %}",
    ),
    "message.api": ("{{ subject }}", "{{ text }}"),
    "test": ("Vigia: mensagem de teste", "✅ Mensagem de teste do Vigia para o canal *{{ channel }}*."),
}
EVENT_TYPES = sorted(DEFAULTS)
GENERIC = ("{{ type }}", "{{ type }} {{ topic }}")  # an event type without a built-in wording

# An operator's template renders within these bounds (the built-in wordings are ours, and bounded by the
# event). Loops are counted, not timed alone: a time limit would fail a good template on a starved host.
MAX_CHARS = 50_000  # a dozen WhatsApp messages; what an event's template may produce
MAX_STEPS = 20_000  # loop iterations (and {% with %} values), nested loops multiplied
MAX_SECONDS = 1.0  # looked at every 100 steps

# A sample event per type, with every field DEFAULTS uses: template previews, and the trial every template
# must pass before it is saved.
SAMPLES: dict[str, dict[str, Any]] = {
    "item.new": {
        "source": 1,
        "source_name": "Diário Oficial",
        "item": 10,
        "title": "Edital nº 12/2026",
        "url": "https://example.org/edital-12",
        "body": "Abertas as inscrições para o concurso.",
    },
    "publication.new": {
        "person": 1,
        "person_name": "Maria da Silva",
        "publication": 20,
        "date": "2026-03-02",
        "tribunal": "TJSP",
        "process": "0001234-56.2026.8.26.0100",
        "type_label": "Intimação",
        "organ": "1ª Vara Cível",
        "link": "https://comunica.pje.jus.br/",
        "text": "Fica a parte intimada para se manifestar em 15 dias.",
    },
    "job.failed": {
        "job": 7,
        "job_name": "Relatório diário",
        "run": 70,
        "status": "failed",
        "attempt": 3,
        "failures": 1,
        "error": "HTTP 503",
    },
    "source.broken": {"source": 1, "source_name": "Diário Oficial", "error": "HTTP 503 three times in a row"},
    "people.expired": {
        "count": 2,
        "people": [
            {"id": 1, "name": "Maria da Silva", "until": "2026-03-01"},
            {"id": 2, "name": "João Souza", "until": "2026-03-01"},
        ],
    },
    "message.api": {"subject": "Lembrete", "text": "Sua consulta é amanhã às 14h."},
    "test": {"channel": "WhatsApp da equipe"},
}
SAMPLES["item.updated"] = SAMPLES["item.new"]
SAMPLES["source.recovered"] = {**SAMPLES["source.broken"], "error": ""}
_ALERT = {"failures": 3, "since": "2026-03-02T10:00:00+00:00", "link": "/", "error": "HTTP 503"}
SAMPLES["source.still_broken"] = {**SAMPLES["source.broken"], **_ALERT}
for _type in ("job.still_failing", "job.recovered", "job.late", "job.still_late", "job.on_time"):
    SAMPLES[_type] = {"job": 7, "job_name": "Relatório diário", **_ALERT}
for _type in ("person.failing", "person.still_failing", "person.recovered"):
    SAMPLES[_type] = {"person": 1, "person_name": "Maria da Silva", **_ALERT}
for _type in ("channel.down", "channel.still_down", "channel.recovered"):
    SAMPLES[_type] = {"channel": 1, "channel_name": "WhatsApp da equipe", **_ALERT}
for _type in ("system.alert", "system.still_alerting", "system.recovered"):
    SAMPLES[_type] = {"name": "Nenhum líder do agendador", **_ALERT}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    problem: str = ""  # why the operator's template was not used ("" when it was, or there is none)


class TooCostly(Exception):
    pass


class _Bounded(Context):
    """A plain-text Context that stops a rendering after MAX_STEPS loop steps or MAX_SECONDS."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values, autoescape=False)
        self.steps, self.deadline = 0, time.monotonic() + MAX_SECONDS

    def _step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TooCostly(f"more than {MAX_STEPS:,} loop steps")
        if self.steps % 100 == 0 and time.monotonic() > self.deadline:
            raise TooCostly(f"more than {MAX_SECONDS:g} s")

    def __setitem__(self, key: int | str | Node, value: Any) -> None:
        # {% for x in … %} sets its variable once per step
        self._step()
        super().__setitem__(key, value)

    def update(self, other_dict: dict[str, Any] | Context) -> ContextDict:  # {% for a, b in … %}
        self._step()
        return super().update(other_dict)


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return ENGINE.from_string(source)  # templates are compiled once per process, not per message


def check(source: str) -> None:
    """ValidationError when `source` is not a valid template."""
    try:
        ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        raise ValidationError(_("Template error: %(error)s"), params={"error": exc}) from None


def trial(event_type: str, subject: str, body: str) -> dict[str, ValidationError]:
    """Errors by field ("subject", "body") of an event type's template that compiles but cannot render a
    sample event of its type within the bounds; {} when it can (or `event_type` is not an event type)."""
    if event_type not in DEFAULTS:
        return {}
    errors: dict[str, ValidationError] = {}
    for field, source in (("subject", subject or DEFAULTS[event_type][0]), ("body", body)):
        try:
            bounded(source, sample(event_type))
        except Exception as exc:  # noqa: BLE001 - whatever it is, the operator is told what
            errors[field] = ValidationError(
                _("Cannot render a sample %(type)s event: %(error)s"),
                params={"type": event_type, "error": describe(exc)},
            )
    return errors


def sample(event_type: str) -> dict[str, Any]:
    return {"type": event_type, "topic": "sample:1", **SAMPLES.get(event_type, {})}


def bounded(source: str, values: dict[str, Any]) -> str:
    """An operator's template rendered within MAX_STEPS, MAX_SECONDS and MAX_CHARS (TooCostly beyond)."""
    with translation.override(settings.LANGUAGE_CODE):  # the messages' language, whoever triggers them
        text = _compiled(source).render(_Bounded(values))
    if len(text) > MAX_CHARS:
        raise TooCostly(f"{len(text):,} characters, more than {MAX_CHARS:,}")
    return text.strip()


def describe(exc: BaseException) -> str:
    """What went wrong, for the operator: 'TemplateDoesNotExist: nope.txt'."""
    name = "Too costly" if isinstance(exc, TooCostly) else type(exc).__name__
    text = str(exc)
    if isinstance(exc, VariableDoesNotExist):  # "Failed lookup for key [x] in <the whole context>"
        text = text.split(" in ", 1)[0]
    return f"{name}: {text}"[:500]


def render(event_type: str, payload: dict[str, Any]) -> Rendered:
    """Rendered(subject, text, problem) for an event: the operator's template when there is one and it
    renders, else the built-in wording, else a plain listing of the event's fields. Never raises."""
    default_subject, default_body = DEFAULTS.get(event_type, GENERIC)
    problem = ""
    custom = _custom(event_type)
    if custom is not None:
        custom_subject, custom_body = custom
        try:
            return Rendered(bounded(custom_subject or default_subject, payload), bounded(custom_body, payload))
        except Exception as exc:  # noqa: BLE001 - the work that publishes must not fail for its wording
            problem = describe(exc)
            log.warning(
                "message template not used (%s): the built-in wording goes out",
                problem,
                extra={"event_type": event_type},
            )
    context = Context(payload, autoescape=False)
    try:
        with translation.override(settings.LANGUAGE_CODE):  # the messages' language, whoever triggers them
            subject = _compiled(default_subject).render(context)
            body = _compiled(default_body).render(context)
        return Rendered(subject.strip(), body.strip(), problem)
    except Exception as exc:  # noqa: BLE001 - an event whose fields the built-in wording cannot read
        log.warning("built-in wording failed (%s)", describe(exc), extra={"event_type": event_type})
        return Rendered(*plain(payload), problem or describe(exc))


def plain(payload: dict[str, Any]) -> tuple[str, str]:
    """(subject, text): the event's fields one per line, as plain text, for when no wording renders."""
    lines = []
    for key, value in payload.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        lines.append(f"{key}: {text[:1500]}")
    return f"{payload.get('type', '')} {payload.get('topic', '')}".strip(), "\n".join(lines)


def _custom(name: str) -> tuple[str, str] | None:
    """(subject, body) of the operator's template named `name`, or None: one prepared SELECT per message."""
    sql = rawsql.statement("message_template", _template_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, [name])
        return cursor.fetchone()


def _template_sql(conn: BaseDatabaseWrapper) -> str:
    from channels_app.models import MessageTemplate

    table = rawsql.quoted(conn, MessageTemplate._meta.db_table)
    # Concrete fields by name: each has a column (the stubs allow a relation, or None, for get_field().column).
    subject, body, name = (
        rawsql.quoted(conn, MessageTemplate._meta.get_field(field).column)  # type: ignore[union-attr]
        for field in ("subject", "body", "name")
    )
    return f"SELECT {subject}, {body} FROM {table} WHERE {name} = %s"


def placeholders(body: str | None) -> list[int]:
    return sorted({int(number) for number in POSITIONAL.findall(body or "")})


def fill_positional(body: str, params: Sequence[object]) -> str:
    """Replace {{1}}, {{2}}… with params[0], params[1]…; ValidationError naming what is missing."""
    wanted = placeholders(body)
    missing = [number for number in wanted if number < 1 or number > len(params)]
    if missing:
        raise ValidationError(
            # One English wording (the API's answer); the plural form lets other languages agree with the count.
            ngettext(
                "The template needs %(wanted)s parameter(s) (%(placeholders)s); got %(given)s.",
                "The template needs %(wanted)s parameter(s) (%(placeholders)s); got %(given)s.",
                len(wanted),
            ),
            params={
                "wanted": len(wanted),
                "placeholders": ", ".join(f"{{{{{n}}}}}" for n in wanted),
                "given": len(params),
            },
        )
    return POSITIONAL.sub(lambda match: str(params[int(match.group(1)) - 1]), body)
