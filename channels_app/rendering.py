"""Message wording: a template per event type in Django's template language (an operator's, else the
built-in default), and WhatsApp-style positional placeholders ({{1}}, {{2}}) for messages sent through
the API. Messages are plain text: nothing is HTML-escaped here (the e-mail kind escapes its HTML part)."""

import functools
import logging
import re

from django.core.exceptions import ValidationError
from django.db import connection
from django.template import Context, Engine, TemplateSyntaxError
from django.utils.translation import gettext as _

from scheduler import rawsql

log = logging.getLogger("vigia.deliveries")
ENGINE = Engine(autoescape=False)  # plain text: '&' must reach WhatsApp as '&', not '&amp;'
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
        "⚖️ Nova publicação para *{{ person_name }}*\n{{ tribunal }} · {{ date }} · {{ type_label }}\n"
        "Processo {{ process }}\n{{ organ }}\n\n{{ text|truncatechars:1500 }}{% if link %}\n{{ link }}{% endif %}",
    ),
    "job.failed": (
        "Falha: {{ job_name }}",
        "❌ O job *{{ job_name }}* falhou ({{ status }}) após {{ attempt }} tentativa(s).\n"
        "{{ error|truncatechars:1000 }}",
    ),
    "source.broken": (
        "Fonte com problema: {{ source_name }}",
        "⚠️ A fonte *{{ source_name }}* está falhando.\n{{ error|truncatechars:1000 }}",
    ),
    "source.recovered": ("Fonte recuperada: {{ source_name }}", "✅ A fonte *{{ source_name }}* voltou a funcionar."),
    "people.expired": (
        "Monitoramentos encerrados: {{ count }}",
        "⌛ {{ count }} monitoramento(s) encerrado(s):{% for person in people %}\n- {{ person.name }} "
        "(até {{ person.until }}){% endfor %}",
    ),
    "message.api": ("{{ subject }}", "{{ text }}"),
    "test": ("Vigia: mensagem de teste", "✅ Mensagem de teste do Vigia para o canal *{{ channel }}*."),
}
EVENT_TYPES = sorted(DEFAULTS)


@functools.lru_cache(maxsize=256)
def _compiled(source):
    return ENGINE.from_string(source)  # templates are compiled once per process, not per message


def check(source):
    """ValidationError when `source` is not a valid template."""
    try:
        ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        raise ValidationError(_("Template error: %(error)s"), params={"error": exc}) from None


def render(event_type, payload):
    """(subject, text) for an event, with the operator's template when there is a valid one."""
    default_subject, default_body = DEFAULTS.get(event_type, ("{{ type }}", "{{ type }} {{ topic }}"))
    custom = _custom(event_type)
    context = Context(payload, autoescape=False)
    if custom is not None:
        custom_subject, custom_body = custom
        try:
            subject = _compiled(custom_subject or default_subject).render(context)
            return subject.strip(), _compiled(custom_body).render(context).strip()
        except TemplateSyntaxError:
            log.warning("invalid message template; using the default", extra={"event_type": event_type})
    subject = _compiled(default_subject).render(context)
    return subject.strip(), _compiled(default_body).render(context).strip()


def _custom(name):
    """(subject, body) of the operator's template named `name`, or None: one prepared SELECT per message."""
    sql = rawsql.statement("message_template", _template_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, [name])
        return cursor.fetchone()


def _template_sql(conn):
    from channels_app.models import MessageTemplate

    table = rawsql.quoted(conn, MessageTemplate._meta.db_table)
    subject, body, name = (
        rawsql.quoted(conn, MessageTemplate._meta.get_field(field).column) for field in ("subject", "body", "name")
    )
    return f"SELECT {subject}, {body} FROM {table} WHERE {name} = %s"


def placeholders(body):
    return sorted({int(number) for number in POSITIONAL.findall(body or "")})


def fill_positional(body, params):
    """Replace {{1}}, {{2}}… with params[0], params[1]…; ValidationError naming what is missing."""
    wanted = placeholders(body)
    missing = [number for number in wanted if number < 1 or number > len(params)]
    if missing:
        raise ValidationError(
            _("The template needs %(wanted)s parameter(s) (%(placeholders)s); got %(given)s."),
            params={
                "wanted": len(wanted),
                "placeholders": ", ".join(f"{{{{{n}}}}}" for n in wanted),
                "given": len(params),
            },
        )
    return POSITIONAL.sub(lambda match: str(params[int(match.group(1)) - 1]), body)
