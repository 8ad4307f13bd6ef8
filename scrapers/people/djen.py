"""The DJEN (Comunica PJe) client: the national electronic court journal's public search API.

`search()` runs one query over a date window and returns every item, page by page, until the count the
API announced is reached or its result cap (VIGIA_DJEN_MAX_RESULTS) stops it; a window holding more than
the cap is reported as truncated after its first page, so the caller can split it. Each request goes through
scrapers.sources.fetch, so it takes a slot from the shared per-host rate limit, uses the process's one outbound
client, and its answer is judged by scheduler.shared.answers as every outbound answer is: network errors and 5xx
are retried; a 429 is rate-limited: every worker holds off for the wait the API asks for (Retry-After, else
VIGIA_DJEN_RETRY_AFTER: DJEN's 429 body is not documented and is not read), and when that wait is long the
run fails as RateLimited with it as the retry's floor instead of holding a worker idle. A 422 (invalid
parameters) and any other 4xx are permanent. `parse_item()` reads one item
defensively: fields may be missing, null, of the wrong type, or HTML.
"""

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypedDict, cast

import httpx
from django.conf import settings

from scheduler.errors import JobError, PermanentError
from scrapers.sources.fetch import fetch
from scrapers.sources.kinds.textutil import html_to_text

PATH = "/api/v1/comunicacao"
MAX_WAIT = 15.0  # a longer rate-limit or 429 wait fails the run (retried later) rather than idling a worker
TIMEOUT = 30.0


@dataclass
class SearchResult:
    items: list[object] = field(default_factory=list)  # DJEN's raw items (parse_item reads one)
    count: int = 0  # what the API said the query matches
    requests: int = 0
    elapsed_ms: int = 0  # in DJEN's hands, rate-limit waits and retries included
    truncated: bool = False  # more than the API serves per query (narrow the window or the criteria)


class Recipient(TypedDict):
    name: str
    role: str


class Lawyer(TypedDict):
    name: str
    oab: str
    uf: str


class PublicationFields(TypedDict):
    """parse_item's result: a Publication's fields."""

    djen_id: int
    hash: str
    date: date | None
    tribunal: str
    communication_type: str
    organ: str
    process_number: str
    process_number_masked: str
    class_name: str
    class_code: str
    document_type: str
    medium: str
    number: str
    text: str
    link: str
    recipients: list[Recipient]
    lawyers: list[Lawyer]


def search(criteria: Mapping[str, str], start: date, end: date, deadline: float | None = None) -> SearchResult:
    """Every item DJEN returns for `criteria` (e.g. {"nomeParte": "..."}) made available from `start` to `end`."""
    size = max(1, min(settings.VIGIA_DJEN_PAGE_SIZE, 100))
    query: dict[str, str | int] = {
        **criteria,
        "dataDisponibilizacaoInicio": start.isoformat(),
        "dataDisponibilizacaoFim": end.isoformat(),
        "itensPorPagina": size,
    }
    result, page, seen = SearchResult(), 1, set[object]()
    while True:
        body, elapsed_ms = _get({**query, "pagina": page}, deadline)
        result.requests += 1
        result.elapsed_ms += elapsed_ms
        batch = body["items"]
        result.count = _count(body.get("count"), len(batch))
        for raw in batch:
            key = raw.get("id") if isinstance(raw, dict) else None
            if key not in seen or key is None:  # pages can shift while we read them: keep each item once
                seen.add(key)
                result.items.append(raw)
        fetched = page * size
        if not batch or len(batch) < size or fetched >= result.count:
            return result
        if result.count > settings.VIGIA_DJEN_MAX_RESULTS and start < end:
            result.truncated = True  # more than one query may read: the caller splits the window, not us
            return result
        if fetched >= settings.VIGIA_DJEN_MAX_RESULTS:
            result.truncated = True
            return result
        page += 1


def _get(params: Mapping[str, str | int], deadline: float | None) -> tuple[dict[str, Any], int]:
    url = httpx.URL(settings.VIGIA_DJEN_URL + PATH, params=params)  # fetch() takes it as it is: parsed once
    soon = time.monotonic() + MAX_WAIT
    try:
        answer = fetch(
            url,
            headers={"Accept": "application/json"},
            timeout=TIMEOUT,
            deadline=soon if deadline is None else min(deadline, soon),
            retry_after_default=settings.VIGIA_DJEN_RETRY_AFTER,
        )
    except PermanentError as exc:
        if (exc.result or {}).get("http_status") == 422:
            raise PermanentError("DJEN refused the query's parameters (HTTP 422).", result=exc.result) from None
        raise
    try:
        body = json.loads(answer.text)
    except ValueError:
        raise JobError(f"DJEN's answer is not JSON (it starts: {answer.text[:80]!r}).") from None
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise JobError("DJEN's answer has no 'items' list.")
    return body, answer.elapsed_ms


def _count(value: Any, fallback: int) -> int:  # value: whatever DJEN sent as the count
    try:
        return max(int(value), fallback)
    except (TypeError, ValueError):
        return fallback


def parse_item(raw: object) -> PublicationFields:
    """A Publication's fields from one DJEN item. Raises JobError when it has no usable id."""
    if not isinstance(raw, dict):
        raise JobError("DJEN returned an item that is not an object.")
    key: Any = raw.get("id")  # whatever DJEN sent: int() refuses what is not a number
    try:
        djen_id = int(key)
    except (TypeError, ValueError):
        raise JobError("DJEN returned an item without an id.") from None
    return {
        "djen_id": djen_id,
        "hash": _text(raw.get("hash"), 100),
        "date": _date(raw.get("data_disponibilizacao") or raw.get("datadisponibilizacao")),
        "tribunal": _text(raw.get("siglaTribunal"), 30).upper(),
        "communication_type": _text(raw.get("tipoComunicacao"), 200),
        "organ": _text(raw.get("nomeOrgao"), 500),
        "process_number": _text(raw.get("numero_processo"), 30),
        "process_number_masked": _text(raw.get("numeroprocessocommascara"), 40),
        "class_name": _text(raw.get("nomeClasse"), 300),
        "class_code": _text(raw.get("codigoClasse"), 30),
        "document_type": _text(raw.get("tipoDocumento"), 200),
        "medium": _text(raw.get("meio"), 5),
        "number": _text(raw.get("numeroComunicacao"), 50),
        "text": html_to_text(_raw_text(raw.get("texto")), lines=True),
        "link": _link(raw.get("link")),
        "recipients": [
            {"name": _text(r.get("nome"), 300), "role": _text(r.get("polo"), 20)}
            for r in _list(raw.get("destinatarios"))
        ],
        "lawyers": [_lawyer(entry) for entry in _list(raw.get("destinatarioadvogados"))],
    }


def _lawyer(entry: dict[str, Any]) -> Lawyer:
    lawyer = cast(dict[str, Any], entry.get("advogado")) if isinstance(entry.get("advogado"), dict) else entry
    return {
        "name": _text(lawyer.get("nome"), 300),
        "oab": _text(lawyer.get("numero_oab"), 20),
        "uf": _text(lawyer.get("uf_oab"), 2).upper(),
    }


def _list(value: object) -> list[dict[str, Any]]:
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _text(value: object, limit: int) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return " ".join(str(value).split())[:limit]


def _raw_text(value: object) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _link(value: object) -> str:
    text = _text(value, 10_000)
    ok = text.lower().startswith(("http://", "https://")) and len(text) <= 2000  # a cut link is a broken one
    return text if ok else ""
