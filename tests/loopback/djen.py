"""A loopback stand-in for DJEN's search API, for `bench cycle` and the tests.

It implements what Vigia relies on: GET /api/v1/comunicacao with nomeParte (loose: every word of the
name anywhere in the recipients or the text, as the real search behaves), nomeAdvogado, numeroOab +
ufOab, numeroProcesso, siglaTribunal, meio, the date window, pagina and itensPorPagina (≤ 100); 422 for
invalid parameters; x-ratelimit-* headers; an optional requests-per-second limit answered with 429;
canned failures for the next requests; and a fixed latency per request. It records every request so a
test or benchmark can count them per 1-second window. DJEN's own 429 and error bodies are not documented
anywhere we could find (third-party notes only report a 429 with `Retry-After` and `X-RateLimit-Limit`):
the bodies here are stand-ins, and Vigia reads only the status and Retry-After of an error answer.

    with FakeDjen(latency=0.2) as djen:
        djen.add(recipients=["José da Silva"], tribunal="TJSP")
        settings.VIGIA_DJEN_URL = djen.url
"""

import hashlib
import json
import re
import threading
import time
import unicodedata
from bisect import bisect_left, bisect_right, insort
from collections import defaultdict
from datetime import date
from urllib.parse import parse_qs, urlsplit

from tests.loopback.server import LoopbackServer, Response

PATH = "/api/v1/comunicacao"
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _norm(text):
    plain = unicodedata.normalize("NFKD", text or "")
    return " ".join(re.sub(r"\W+", " ", "".join(c for c in plain if not unicodedata.combining(c)).casefold()).split())


class FakeDjen:
    def __init__(self, latency=0.0, rate_limit=None, retry_after=None):
        self.latency = latency
        self.rate_limit = rate_limit  # requests per second before answering 429
        self.retry_after = retry_after  # the Retry-After such a 429 names (None: no header)
        self.items = []
        self.requests = []  # (monotonic time, query dict, status)
        self.peers = []  # the client's port of each request: one port, one connection (kept alive)
        self._failures = []  # canned (status, body, headers) for the next requests, in order
        self._lock = threading.Lock()
        self._next_id = 500_000_000
        self._words = {}  # item id → the normalized words a name search looks in
        # word → ids of the items holding it, and the arrival times so far (sorted): a request costs the
        # stand-in microseconds, not a scan of every item and every earlier request (at 1,000 people the
        # scans took milliseconds of the benchmark's CPU per request, counted as Vigia's own time)
        self._by_word = defaultdict(set)
        self._arrivals = []
        self._server = None

    # --- data -----------------------------------------------------------------------------------
    def add(self, recipients=(), lawyers=(), text="", tribunal="TJSP", day=None, process="", medium="D", **extra):
        """Add a communication; `lawyers` are (name, oab number, uf) triples. Returns the item dict."""
        with self._lock:
            self._next_id += 1
            djen_id = self._next_id
        day = day or date.today()
        process = process or f"{djen_id:07d}1220268260100"[:20]
        item = {
            "id": djen_id,
            "data_disponibilizacao": day.isoformat(),
            "siglaTribunal": tribunal,
            "tipoComunicacao": "Intimação",
            "nomeOrgao": "1ª Vara Cível",
            "texto": text or f"Intimação das partes: {', '.join(recipients)}.",
            "numero_processo": process,
            "numeroprocessocommascara": _masked(process),
            "link": f"https://comunicaapi.pje.jus.br/api/v1/comunicacao/{djen_id}/certidao",
            "hash": hashlib.sha1(str(djen_id).encode()).hexdigest(),
            "meio": medium,
            "tipoDocumento": "Despacho",
            "nomeClasse": "PROCEDIMENTO COMUM CÍVEL",
            "codigoClasse": "7",
            "numeroComunicacao": djen_id % 100_000,
            "ativo": True,
            "destinatarios": [{"nome": name, "polo": "A"} for name in recipients],
            "destinatarioadvogados": [
                {"advogado": {"nome": name, "numero_oab": oab, "uf_oab": uf}} for name, oab, uf in lawyers
            ],
            **extra,
        }
        with self._lock:
            self.items.append(item)
            self._words[djen_id] = set(" ".join([*(_norm(name) for name in recipients), _norm(item["texto"])]).split())
            for word in self._words[djen_id]:
                self._by_word[word].add(djen_id)
        return item

    def fail_next(self, status, count=1, body=None, headers=None):
        """Answer the next `count` requests with `status` (body: bytes/str/dict; default DJEN's error JSON)."""
        with self._lock:
            self._failures.extend([(status, body, headers or {})] * count)

    # --- what was asked -------------------------------------------------------------------------
    def queries(self):
        return [query for _, query, _ in self.requests]

    def max_per_second(self, since=0):
        """The most requests that arrived within any 1-second window (sliding), from request `since` on."""
        times = sorted(moment for moment, _, _ in self.requests[since:])
        return max((bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)

    # --- the server -----------------------------------------------------------------------------
    @property
    def url(self):
        return self._server.url

    def start(self):
        # GET only (other methods: http.server's 501), kept alive; the backlog takes a benchmark's bursts
        self._server = LoopbackServer(self._serve, methods=("GET",), record=False, request_queue_size=128)
        self._server.start()
        return self

    def stop(self):
        if self._server:
            self._server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- answering ------------------------------------------------------------------------------
    def _serve(self, request):
        self.peers.append(request.peer)
        status, body, headers = self._answer(request.target)
        if isinstance(body, bytes):
            data = body
        else:
            data = body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode()
        content_type = headers.pop("Content-Type", "application/json; charset=utf-8")
        return Response(status, data, {"Content-Type": content_type, "Content-Length": str(len(data)), **headers})

    def _answer(self, path):
        arrived = time.monotonic()
        parts = urlsplit(path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        status, body, headers = self._respond(parts.path, query, arrived)
        with self._lock:
            self.requests.append((arrived, query, status))
            insort(self._arrivals, arrived)
        if self.latency:  # the answer takes `latency` in all, however long finding it took
            time.sleep(max(0.0, arrived + self.latency - time.monotonic()))
        return status, body, dict(headers)

    def _respond(self, path, query, arrived):
        with self._lock:
            canned = self._failures.pop(0) if self._failures else None
            recent = len(self._arrivals) - bisect_right(self._arrivals, arrived - 1.0)
        limit_headers = {"x-ratelimit-limit": str(self.rate_limit or 1000)}
        if canned:
            status, body, headers = canned
            return status, body if body is not None else {"status": "error", "message": f"HTTP {status}"}, headers
        if self.rate_limit and recent >= self.rate_limit:
            headers = {**limit_headers, "x-ratelimit-remaining": "0"}
            if self.retry_after is not None:
                headers["Retry-After"] = str(self.retry_after)
            return 429, {"status": "error", "message": "Too Many Requests"}, headers
        if path != PATH:
            return 404, {"status": "error", "message": "Not found"}, {}
        problem = _invalid(query)
        if problem:
            return 422, {"status": "error", "message": problem}, limit_headers
        wanted = set(_norm(query.get("nomeParte", "")).split())
        found = sorted(
            (item for item in self._candidates(wanted) if _matches(item, query, wanted, self._words.get(item["id"]))),
            key=lambda item: (item["data_disponibilizacao"], item["id"]),
            reverse=True,
        )
        size, page = int(query.get("itensPorPagina", 5)), int(query.get("pagina", 1))
        remaining = max(0, (self.rate_limit or 1000) - recent - 1)
        page_items = found[(page - 1) * size :][:size]
        body = {"status": "success", "message": "Sucesso", "count": len(found), "items": page_items}
        return 200, body, {**limit_headers, "x-ratelimit-remaining": str(remaining)}

    def _candidates(self, wanted):
        """The items a name search may match: those holding every wanted word when they were added, and any
        item not added through add() (appended by hand); all of them when no name is asked for."""
        with self._lock:
            items = list(self.items)
            if not wanted:
                return items
            ids = set.intersection(*(self._by_word.get(word, set()) for word in wanted))
            return [item for item in items if item["id"] in ids or item["id"] not in self._words]


def _masked(number):
    """The CNJ format: NNNNNNN-DD.AAAA.J.TR.OOOO."""
    n = number.ljust(20, "0")
    return f"{n[:7]}-{n[7:9]}.{n[9:13]}.{n[13]}.{n[14:16]}.{n[16:20]}"


def _invalid(query):
    if not any(query.get(name) for name in ("nomeParte", "nomeAdvogado", "numeroOab", "numeroProcesso")):
        return "Informe ao menos um critério de pesquisa."
    if query.get("numeroOab") and not query.get("ufOab"):
        return "Informe a UF da OAB."
    for name in ("dataDisponibilizacaoInicio", "dataDisponibilizacaoFim"):
        if query.get(name) and not DAY.match(query[name]):
            return f"{name} inválida."
    for name, top in (("itensPorPagina", 100), ("pagina", 10_000)):
        value = query.get(name, "1")
        if not value.isdigit() or not 1 <= int(value) <= top:
            return f"{name} inválido."
    return ""


def _matches(item, query, wanted, words=None):
    day = item["data_disponibilizacao"]
    if query.get("dataDisponibilizacaoInicio") and day < query["dataDisponibilizacaoInicio"]:
        return False
    if query.get("dataDisponibilizacaoFim") and day > query["dataDisponibilizacaoFim"]:
        return False
    if query.get("siglaTribunal") and item["siglaTribunal"] != query["siglaTribunal"].upper():
        return False
    if query.get("meio") and item["meio"] != query["meio"]:
        return False
    if query.get("numeroProcesso") and re.sub(r"\D", "", query["numeroProcesso"]) != item["numero_processo"]:
        return False
    lawyers = [entry["advogado"] for entry in item["destinatarioadvogados"]]
    if query.get("numeroOab"):
        wanted = (query["numeroOab"].lstrip("0"), query.get("ufOab", "").upper())
        if not any((str(law["numero_oab"]).lstrip("0"), law["uf_oab"]) == wanted for law in lawyers):
            return False
    if query.get("nomeAdvogado"):
        names = " ".join(_norm(law["nome"]) for law in lawyers).split()
        if not set(_norm(query["nomeAdvogado"]).split()) <= set(names):
            return False
    if query.get("nomeParte"):
        if words is None:  # an item edited after add()
            words = " ".join([*(_norm(r["nome"]) for r in item["destinatarios"]), _norm(item["texto"])]).split()
        if not wanted <= set(words):
            return False
    return True
