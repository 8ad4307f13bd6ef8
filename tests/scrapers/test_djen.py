"""The DJEN client against a loopback DJEN: the query it sends, pagination, its caps, how it takes the API's
refusals and rate limits, and how defensively it reads an item."""

import time

import pytest
from django.utils import timezone

from scheduler.errors import JobError, PermanentError, TransientError
from scheduler.models import Budget
from scrapers import ratelimit
from scrapers.models import Publication
from scrapers.people import djen as client
from scrapers.sources import fetch as fetching
from tests.scrapers.people_support import days_ago, djen_fixture  # noqa: F401 (the `djen` fixture)

pytestmark = pytest.mark.django_db

NAME = {"nomeParte": "José da Silva"}


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(fetching, "BACKOFF_BASE", 0.01)


def fill(djen, count, day=None):
    day = day or days_ago(1)
    return [djen.add(recipients=["José da Silva"], day=day) for _ in range(count)]


def search(criteria=None, start=None, end=None):
    return client.search(criteria or NAME, start or days_ago(5), end or days_ago(0))


@pytest.fixture
def pauses(monkeypatch, djen):
    """The waits fetch() takes before a retry, and how far ahead the shared budget is at that moment: what
    any other worker would have to wait before its own request to DJEN."""
    seen = []
    pause = fetching._pause

    def spy(seconds, deadline, problem):
        budget = Budget.objects.get(pk=ratelimit.budget_name(ratelimit.host_key(djen.url)))
        seen.append((seconds, (budget.next_slot_at - timezone.now()).total_seconds()))
        return pause(seconds, deadline, problem)

    monkeypatch.setattr(fetching, "_pause", spy)
    return seen


def arrivals(djen):
    return [moment for moment, _, _ in djen.requests]


# --- the query ------------------------------------------------------------------------------------


def test_the_query_names_the_window_in_iso_days_and_asks_for_full_pages(djen):
    fill(djen, 3)
    result = search({**NAME, "siglaTribunal": "TJSP"}, days_ago(10), days_ago(0))
    assert len(result.items) == 3 and result.count == 3 and result.requests == 1 and not result.truncated
    assert djen.queries() == [
        {
            "nomeParte": "José da Silva",
            "siglaTribunal": "TJSP",
            "dataDisponibilizacaoInicio": days_ago(10).isoformat(),
            "dataDisponibilizacaoFim": days_ago(0).isoformat(),
            "itensPorPagina": "100",
            "pagina": "1",
        }
    ]


def test_a_page_size_above_the_apis_limit_is_capped_at_100(djen, settings):
    settings.VIGIA_DJEN_PAGE_SIZE = 500  # the API answers 422 above 100
    fill(djen, 2)
    assert len(search().items) == 2
    assert djen.queries()[0]["itensPorPagina"] == "100"


def test_pages_are_read_until_the_count_each_item_once(djen):
    added = fill(djen, 250)
    result = search()
    assert result.requests == 3 and result.count == 250 and not result.truncated
    assert [query["pagina"] for query in djen.queries()] == ["1", "2", "3"]
    assert sorted(item["id"] for item in result.items) == sorted(item["id"] for item in added)


def test_an_exact_multiple_of_the_page_size_needs_no_extra_request(djen):
    fill(djen, 200)
    result = search()
    assert result.requests == 2 and len(result.items) == 200


def test_an_item_published_while_reading_does_not_duplicate_the_one_it_pushes_to_the_next_page(djen, monkeypatch):
    added = fill(djen, 250, day=days_ago(2))
    respond, late = djen._respond, []

    def respond_then_publish(path, query, arrived):
        answer = respond(path, query, arrived)
        if query.get("pagina") == "1" and not late:  # newest first: everything shifts one place down
            late.append(djen.add(recipients=["José da Silva"], day=days_ago(1)))
        return answer

    monkeypatch.setattr(djen, "_respond", respond_then_publish)
    result = search()
    ids = [item["id"] for item in result.items]
    assert len(ids) == len(set(ids)) == 250
    assert set(ids) == {item["id"] for item in added}  # the late one is caught by the next check's overlap


def test_the_result_cap_stops_a_one_day_search_and_says_so(djen, settings):
    settings.VIGIA_DJEN_MAX_RESULTS = 200
    fill(djen, 250, day=days_ago(1))
    result = search(start=days_ago(1), end=days_ago(1))
    assert result.truncated and result.count == 250
    assert result.requests == 2 == len(djen.requests)
    assert len(result.items) == 200


def test_a_window_over_the_cap_is_reported_after_its_first_page_so_the_caller_can_split_it(djen, settings):
    settings.VIGIA_DJEN_MAX_RESULTS = 200
    fill(djen, 250)
    result = search()
    assert result.truncated and result.count == 250
    assert result.requests == 1 == len(djen.requests)  # no pages read in vain


def test_an_empty_page_or_a_short_page_ends_the_search_whatever_the_count_says(djen):
    djen.fail_next(200, body={"count": 900, "items": []})
    assert search().items == [] and len(djen.requests) == 1
    djen.fail_next(200, body={"count": 900, "items": [{"id": 1}, {"id": 2}]})
    assert search().requests == 1 and len(djen.requests) == 2


# --- refusals, rate limits, failures --------------------------------------------------------------


def test_invalid_parameters_are_a_permanent_error_with_a_clear_message(djen):
    with pytest.raises(PermanentError) as caught:
        search({"siglaTribunal": "TJSP"})  # no search criterion: DJEN answers 422
    assert str(caught.value) == "DJEN refused the query's parameters (HTTP 422)."
    assert len(djen.requests) == 1  # not retried


def test_a_429_with_retry_after_holds_every_worker_off_then_the_request_succeeds(djen, pauses):
    fill(djen, 2)
    djen.fail_next(429, headers={"Retry-After": "1"})
    result = search()
    assert len(result.items) == 2
    assert [status for _, _, status in djen.requests] == [429, 200]
    first, second = arrivals(djen)
    assert second - first >= 1.0
    [(waited, budget_ahead)] = pauses
    assert waited == 1.0
    assert budget_ahead > 0.8  # the shared budget was pushed out: other workers wait too


def test_a_429_without_retry_after_waits_the_configured_default(djen, pauses, settings):
    settings.VIGIA_DJEN_RETRY_AFTER = 0.8  # longer than the first retry's backoff would be
    fill(djen, 1)
    djen.fail_next(429)
    assert len(search().items) == 1
    first, second = arrivals(djen)
    assert second - first >= 0.8
    [(waited, budget_ahead)] = pauses
    assert waited == 0.8 and budget_ahead > 0.6


def test_a_429_asking_for_a_long_wait_fails_the_run_at_once_with_that_wait(djen):
    fill(djen, 1)
    djen.fail_next(429, headers={"Retry-After": "120"})
    began = time.monotonic()
    with pytest.raises(TransientError) as caught:
        search()
    assert time.monotonic() - began < 5  # no worker idles through the wait
    assert caught.value.retry_after >= 100  # the retry is scheduled after it instead
    assert len(djen.requests) == 1

    # Another check (another worker) meanwhile does not reach DJEN either: the hold is shared.
    with pytest.raises(TransientError) as again:
        search()
    assert again.value.retry_after >= 100
    assert len(djen.requests) == 1


def test_server_errors_are_retried(djen):
    fill(djen, 3)
    djen.fail_next(500, count=2)
    assert len(search().items) == 3
    assert [status for _, _, status in djen.requests] == [500, 500, 200]


def test_server_errors_that_persist_are_a_transient_error(djen):
    djen.fail_next(500, count=10)
    with pytest.raises(TransientError, match="HTTP 500"):
        search()
    assert len(djen.requests) == 3  # the first attempt and VIGIA_FETCH_RETRIES (2) more


@pytest.mark.parametrize(
    "body, message",
    [
        ("<html><body>Em manutenção</body></html>", "DJEN's answer is not JSON (it starts: '<html><body>Em"),
        ({"status": "success", "count": 3}, "DJEN's answer has no 'items' list."),
        ({"status": "success", "items": {"id": 1}}, "DJEN's answer has no 'items' list."),
        ([{"id": 1}], "DJEN's answer has no 'items' list."),
    ],
)
def test_an_answer_that_is_not_a_result_is_a_job_error(djen, body, message):
    djen.fail_next(200, body=body, headers={"Content-Type": "text/html" if isinstance(body, str) else "x/json"})
    with pytest.raises(JobError) as caught:
        search()
    assert str(caught.value).startswith(message)
    assert not caught.value.permanent  # a maintenance page or a glitch: the retry may find the real answer


def test_an_item_without_an_id_is_returned_and_refused_by_parse_item(djen):
    djen.fail_next(200, body={"count": 2, "items": [{"id": 7, "texto": "a"}, {"texto": "sem id"}]})
    result = search()
    assert len(result.items) == 2
    assert client.parse_item(result.items[0])["djen_id"] == 7
    with pytest.raises(JobError, match="DJEN returned an item without an id."):
        client.parse_item(result.items[1])


# --- parse_item -----------------------------------------------------------------------------------


def test_parse_item_reads_a_complete_item(djen):
    item = djen.add(
        recipients=["JOSÉ DA SILVA"],
        lawyers=[("Maria Souza", "123456", "sp")],
        tribunal="tjsp",
        day=days_ago(3),
        process="10012345620268260100",
    )
    fields = client.parse_item(item)
    assert fields["djen_id"] == item["id"]
    assert fields["date"] == days_ago(3)
    assert fields["tribunal"] == "TJSP"
    assert fields["process_number"] == "10012345620268260100"
    assert fields["process_number_masked"] == "1001234-56.2026.8.26.0100"
    assert fields["communication_type"] == "Intimação" and fields["organ"] == "1ª Vara Cível"
    assert fields["number"] == str(item["numeroComunicacao"])  # an int in the API, text for us
    assert fields["link"] == item["link"]
    assert fields["recipients"] == [{"name": "JOSÉ DA SILVA", "role": "A"}]
    assert fields["lawyers"] == [{"name": "Maria Souza", "oab": "123456", "uf": "SP"}]
    assert fields["text"] == "Intimação das partes: JOSÉ DA SILVA."


def test_parse_item_accepts_a_bare_id_and_a_string_id():
    assert client.parse_item({"id": 42}) == client.parse_item({"id": "42"})
    bare = client.parse_item({"id": 42})
    assert bare["djen_id"] == 42
    assert bare["date"] is None and bare["text"] == "" and bare["link"] == ""
    assert bare["recipients"] == [] and bare["lawyers"] == []
    assert all(bare[name] == "" for name in ("hash", "tribunal", "organ", "process_number", "number"))


@pytest.mark.parametrize("raw", [None, "123", [1], 5])
def test_parse_item_refuses_what_is_not_an_object(raw):
    with pytest.raises(JobError, match="not an object"):
        client.parse_item(raw)


@pytest.mark.parametrize("djen_id", [None, "", "abc", [1], {"id": 1}])
def test_parse_item_refuses_an_unusable_id(djen_id):
    with pytest.raises(JobError, match="without an id"):
        client.parse_item({"id": djen_id, "texto": "x"})


def test_parse_item_takes_nulls_and_wrong_types_without_failing():
    fields = client.parse_item(
        {
            "id": 9,
            "hash": None,
            "data_disponibilizacao": "15/01/2026",  # not ISO
            "siglaTribunal": ["TJSP"],
            "tipoComunicacao": {"nome": "Intimação"},
            "nomeOrgao": None,
            "numero_processo": 10012345620268260100,
            "texto": None,
            "link": None,
            "destinatarios": "JOSÉ DA SILVA",
            "destinatarioadvogados": None,
        }
    )
    assert fields["date"] is None
    assert fields["tribunal"] == "" and fields["communication_type"] == "" and fields["organ"] == ""
    assert fields["process_number"] == "10012345620268260100"
    assert fields["text"] == "" and fields["link"] == "" and fields["hash"] == ""
    assert fields["recipients"] == [] and fields["lawyers"] == []


def test_parse_item_skips_malformed_recipients_and_lawyers():
    fields = client.parse_item(
        {
            "id": 9,
            "destinatarios": [None, "JOSÉ", {"nome": None, "polo": "P"}, {"nome": " Maria   Souza "}],
            "destinatarioadvogados": [
                None,
                {"advogado": None, "nome": "Ana Lima", "numero_oab": 98765, "uf_oab": "rj"},  # flat entry
                {"advogado": {"nome": "Rui Costa", "numero_oab": None, "uf_oab": None}},
            ],
        }
    )
    assert fields["recipients"] == [{"name": "", "role": "P"}, {"name": "Maria Souza", "role": ""}]
    assert fields["lawyers"] == [
        {"name": "Ana Lima", "oab": "98765", "uf": "RJ"},
        {"name": "Rui Costa", "oab": "", "uf": ""},
    ]


def test_parse_item_reads_the_date_with_a_time_or_under_its_other_name():
    assert str(client.parse_item({"id": 1, "data_disponibilizacao": "2026-01-15T10:00:00"})["date"]) == "2026-01-15"
    assert str(client.parse_item({"id": 1, "datadisponibilizacao": "2026-01-16"})["date"]) == "2026-01-16"


def test_parse_item_turns_html_text_into_plain_lines():
    texto = (
        "<p>INTIMAÇÃO</p><p>Fica <b>intimado</b> JOSÉ&nbsp;DA SILVA</p>"
        "<script>alert(1)</script><br>Prazo: 15 dias &amp; mais"
    )
    text = client.parse_item({"id": 1, "texto": texto})["text"]
    assert text == "INTIMAÇÃO\nFica intimado JOSÉ DA SILVA\nPrazo: 15 dias & mais"


def test_parse_item_keeps_plain_text_lines():
    text = client.parse_item({"id": 1, "texto": "Linha 1\n\n   Linha   2  "})["text"]
    assert text == "Linha 1\nLinha 2"


@pytest.mark.parametrize(
    "link, kept",
    [
        ("https://comunicaapi.pje.jus.br/api/v1/comunicacao/1/certidao", True),
        ("HTTP://example.org/x", True),
        ("javascript:alert(1)", False),
        ("ftp://example.org/x", False),
        ("/api/v1/comunicacao/1/certidao", False),
        ("", False),
    ],
)
def test_parse_item_keeps_only_web_links(link, kept):
    assert client.parse_item({"id": 1, "link": link})["link"] == (link if kept else "")


def test_parse_item_fits_long_values_into_the_publication_columns():
    long = "x" * 5000
    raw = {
        "id": 1,
        "hash": long,
        "data_disponibilizacao": "2026-01-15",
        "siglaTribunal": long,
        "tipoComunicacao": long,
        "nomeOrgao": long,
        "numero_processo": long,
        "numeroprocessocommascara": long,
        "nomeClasse": long,
        "codigoClasse": long,
        "tipoDocumento": long,
        "meio": long,
        "numeroComunicacao": long,
        "texto": "<p>" + "palavra " * 20_000 + "</p>",
        "link": "https://example.org/" + long,
        "destinatarios": [{"nome": long, "polo": long}],
        "destinatarioadvogados": [{"advogado": {"nome": long, "numero_oab": long, "uf_oab": long}}],
    }
    fields = client.parse_item(raw)
    assert len(fields["text"]) == len("palavra " * 20_000) - 1  # the text is kept whole
    assert len(fields["link"]) <= 2000
    # Every column's max_length is respected (PostgreSQL would refuse the row otherwise).
    Publication.objects.create(**fields)
    stored = Publication.objects.get(djen_id=1)
    assert stored.organ == "x" * 500 and stored.tribunal == "X" * 30
