"""An organizer's task page, and a source that scrapes it, for tests (served by a LoopbackServer)."""

from scrapers.sources.services import SourceForm

CONFIG = {"items": "li.task", "title": "h3", "link": "a@href", "body": "p", "id": "@data-id"}


def page(*tasks):
    """HTML listing tasks given as (id, title, body)."""
    rows = "".join(
        f'<li class="task" data-id="{tid}"><h3>{title}</h3><a href="/t/{tid}">ver</a><p>{body}</p></li>'
        for tid, title, body in tasks
    )
    return f"<html><head><meta charset='utf-8'><title>Tarefas</title></head><body><ul>{rows}</ul></body></html>"


def make_source(url, **fields):
    """A source saved through SourceForm (so its check_source job exists), html kind on `url`."""
    data = {"name": "Organizer", "kind": "html", "url": url, "config": CONFIG, "interval_seconds": 30}
    data.update(timeout_seconds=5, timezone="UTC", enabled=True, method="GET", headers={})
    form = SourceForm(data={**data, **fields})
    assert form.is_valid(), form.errors
    return form.save()
