"""The built-in scraper kinds (html, json, feed, page_watch) on small realistic fixture pages."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from scrapers.models import Item, Source
from scrapers.sources.kinds import base, css
from scrapers.sources.kinds.base import Document, ParseError, clean_config
from scrapers.sources.kinds.page_watch import DIFF_MAX, diff
from scrapers.sources.kinds.textutil import html_to_text, parse_date

FIXTURES = Path(__file__).parent / "fixtures"
PAGE_URL = "https://gincana.example/gincana/tarefas/"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
TASKS = {"items": "li.tarefa", "title": "h3", "body": ".descricao", "id": "@data-id", "date": "span.quando"}


def document(name, url=PAGE_URL):
    return Document(url=url, text=(FIXTURES / name).read_text(encoding="utf-8"))


def parse(kind, doc, config, source=None):
    """As scrapers.sources.checks does it: validate the configuration, then parse."""
    return base.get(kind).parse(doc, clean_config(kind, config), source=source)


def config_errors(kind, config):
    with pytest.raises(ValidationError) as caught:
        clean_config(kind, config)
    return caught.value.message_dict


def test_every_kind_is_registered():
    assert {"html", "json", "feed", "page_watch"} <= set(base.names())


# html


def test_html_extracts_each_task_with_its_fields():
    items = parse("html", document("organizer_tasks.html"), TASKS)
    assert [item.key for item in items] == ["t-101", "t-102", "t-103", "t-104"]
    first = items[0]
    assert first.title == "Tarefa 1: Foto com o mascote da equipe"  # runs of whitespace and newlines collapsed
    assert first.body == "Tirem uma foto com o mascote, em frente à Praça da Sé. Vale 50 pontos!"  # &nbsp; too
    assert first.url == "https://gincana.example/gincana/tarefas/101"  # the first a@href, made absolute
    assert first.published_at == datetime(2026, 11, 22, 14, 30, tzinfo=SAO_PAULO)
    assert first.raw == {
        "title": first.title,
        "body": first.body,
        "id": "t-101",
        "link": "/gincana/tarefas/101",
        "date_text": "22/11/2026 14:30",
    }
    json.dumps([item.raw for item in items])  # stored in Item.raw


def test_html_resolves_relative_links_against_the_final_url():
    items = parse("html", document("organizer_tasks.html"), {"items": "li.tarefa", "link": "a.detalhes@href"})
    assert [item.url for item in items] == [
        "https://gincana.example/gincana/tarefas/101",
        "https://gincana.example/gincana/tarefas/tarefa-102.html?ref=lista#topo",
        "https://outro.example.org/t/103",
        "",
    ]


def test_html_attributes_of_a_descendant_or_of_the_item_itself():
    config = {"items": "li.tarefa", "id": "@data-id", "date": "time@datetime", "title": "a.detalhes@class"}
    second = parse("html", document("organizer_tasks.html"), config)[1]
    assert second.key == "t-102" and second.title == "detalhes"
    assert second.published_at == datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
    assert second.raw["date_text"] == "2026-11-22T18:00:00-03:00"


def test_html_unparseable_dates_are_kept_as_text():
    items = parse("html", document("organizer_tasks.html"), TASKS)
    assert items[1].published_at is None and items[1].raw["date_text"] == "amanhã cedo"
    assert items[2].published_at == datetime(2026, 11, 21, tzinfo=SAO_PAULO)  # a date alone: midnight
    assert items[3].published_at is None and "date_text" not in items[3].raw  # no date element at all


def test_html_title_falls_back_to_the_link_text_then_the_first_line_of_the_body():
    items = parse("html", document("organizer_tasks.html"), TASKS)
    assert items[2].title == "Caça ao tesouro no parque"  # no h3: the link's text
    assert items[3].title == "Tarefa surpresa: tragam um guarda-chuva amarelo e uma laranja."  # no link: the body
    assert items[3].url == "" and items[3].key == "t-104"


def test_html_without_an_id_leaves_the_key_to_the_caller():
    items = parse("html", document("organizer_tasks.html"), {"items": "li.tarefa", "title": "h3"})
    assert [item.key for item in items] == [None] * 4


def test_html_non_web_links_are_not_urls():
    page = Document(PAGE_URL, "<ul><li><a href='javascript:void(0)'>a</a></li><li><a href='mailto:x@y.z'>b</a></li>")
    assert [item.url for item in parse("html", page, {"items": "li"})] == ["", ""]


def test_html_malformed_page_does_not_crash():
    items = parse("html", document("malformed.html"), {"items": "li.tarefa", "title": "h3", "id": "@data-id"})
    assert [(item.key, item.title) for item in items] == [
        ("1", "Primeira tarefa"),
        ("2", "Segunda tarefa"),
        ("3", "Terceira & última < tarefa"),
    ]
    assert items[2].url == "https://gincana.example/t/3"


@pytest.mark.parametrize("text", ["", "   ", "<?xml version='1.0' encoding='ISO-8859-1'?><p>nada</p>"])
def test_html_a_page_without_items_gives_none(text):
    assert parse("html", Document(PAGE_URL, text), TASKS) == []


def test_html_selectors_outside_the_fast_subset_give_the_same_items():
    """`:is()` is run by BeautifulSoup + soupsieve rather than lxml XPath: same results, only slower."""
    fast = parse("html", document("organizer_tasks.html"), TASKS)
    slow_config = {**TASKS, "items": "li:is(.tarefa)", "body": ":is(.descricao)"}
    assert css.compile("li:is(.tarefa)").xpath is None
    slow = parse("html", document("organizer_tasks.html"), slow_config)
    assert slow == fast


PARITY = [
    "li.tarefa",
    "ul.lista > li:not(.encerrada)",
    "#tarefas h3",
    "li[data-id^='t-10']",
    "li[data-id$='3'], li[data-id='t-101']",
    "li[class~=nova]",
    "a[href*='tarefa']",
    "h3 + span",
    "h3 ~ a",
    "li:first-child",
    "li:last-child",
    "li:nth-child(even)",
    "li:nth-child(2)",
    "p:first-of-type",
    "section > h2",
    "div.descricao p b",
    "[lang|=pt]",
    "li:not(li.tarefa)",
]


@pytest.mark.parametrize("selector", PARITY)
def test_translated_selectors_match_what_soupsieve_matches(selector):
    compiled = css.compile(selector)
    assert compiled.xpath is not None, "expected to run on lxml"
    text = (FIXTURES / "organizer_tasks.html").read_text(encoding="utf-8")
    fast, slow = css.LxmlPage(text), css.SoupPage(text)
    found = [fast.text(node) for node in fast.select(compiled)]
    assert found == [slow.text(node) for node in slow.select(compiled)]
    scoped = [[fast.text(n) for n in fast.select(compiled, item)] for item in fast.select(css.compile("li"))]
    assert scoped == [[slow.text(n) for n in slow.select(compiled, item)] for item in slow.select(css.compile("li"))]


def test_html_config_errors_are_reported_on_their_field():
    assert "div[" in " ".join(config_errors("html", {"items": "div["})["config.items"])
    assert "config.items" in config_errors("html", {"title": "h3"})  # required
    assert "a[href" in " ".join(config_errors("html", {"items": "li", "link": "a[href@href"})["config.link"])
    assert "config.items" in config_errors("html", {"items": "li@data-id"})  # items are elements
    assert "config" in config_errors("html", {"items": "li", "colour": "red"})  # unknown setting
    assert clean_config("html", {"items": " li.tarefa ", "link": ""}) == {"items": "li.tarefa"}


# json


JSON_FIELDS = {"title": "name", "link": "permalink", "body": "description", "id": "id", "date": "published"}


def test_json_extracts_items_from_a_nested_list():
    items = parse("json", document("api_tasks.json"), {"items_path": "data.tasks", "fields": JSON_FIELDS})
    assert [item.key for item in items] == ["201", "202", "203"]
    first, second, third = items
    assert first.title == "Tarefa 9: maquete da cidade"
    assert first.url == "https://gincana.example/tarefas/201"
    assert first.body == "Construam uma maquete com material reciclado."  # HTML description as text
    assert first.published_at == datetime(2026, 11, 22, 9, 15, tzinfo=SAO_PAULO)
    assert first.raw["media"][0]["type"] == "image"  # the item object itself
    assert second.body == "Escrevam um poema sobre a equipe."
    assert second.published_at == datetime.fromtimestamp(1795446000, tz=UTC)  # epoch seconds
    assert third.title == "Sem título ainda" and third.url == "" and third.published_at is None
    json.dumps([item.raw for item in items])


def test_json_numeric_segments_index_lists_and_the_root_may_be_the_list():
    body = json.dumps([{"media": [{"url": "/a.jpg"}], "n": 1}, {"media": [], "n": 2}, "not an object"])
    items = parse("json", Document(PAGE_URL, body), {"fields": {"link": "media.0.url", "id": "n"}})
    assert [(item.url, item.key) for item in items] == [("https://gincana.example/a.jpg", "1"), ("", "2"), ("", None)]
    assert items[2].raw == {"value": "not an object"}


def test_json_values_postgresql_cannot_store_are_dropped():
    body = '[{"id": 1, "title": "a\\u0000b", "score": NaN, "tags": ["x\\u0000"]}]'
    (item,) = parse("json", Document(PAGE_URL, body), {"fields": {"title": "title", "id": "id"}})
    assert item.title == "ab" and item.raw == {"id": 1, "title": "ab", "score": None, "tags": ["x"]}


def test_json_invalid_document_is_a_parse_error_with_its_position():
    with pytest.raises(ParseError, match=r"^invalid JSON at line 3 column 5"):
        parse("json", Document(PAGE_URL, '{\n  "data": [\n    oops\n]}'), {"fields": {"title": "t"}})


@pytest.mark.parametrize(
    ("body", "items_path", "message"),
    [
        ('{"data": {"tasks": {"a": 1}}}', "data.tasks", "items_path 'data.tasks' is not a list (found object)"),
        ('{"data": {"tasks": "none"}}', "data.tasks", "items_path 'data.tasks' is not a list (found string)"),
        ('{"data": {}}', "data.tasks", "items_path 'data.tasks' was not found"),
        ('{"data": []}', "", "the document root is not a list (found object)"),
    ],
)
def test_json_items_path_must_lead_to_a_list(body, items_path, message):
    with pytest.raises(ParseError) as caught:
        parse("json", Document(PAGE_URL, body), {"items_path": items_path, "fields": {"title": "t"}})
    assert str(caught.value) == message


def test_json_config_errors_are_reported_on_their_field():
    assert "colour" in " ".join(config_errors("json", {"fields": {"title": "a", "colour": "b"}})["config.fields"])
    assert "config.fields" in config_errors("json", {"fields": {"title": ""}})
    assert "config.fields" in config_errors("json", {"fields": {"title": 3}})
    assert "config.fields" in config_errors("json", {"fields": ["title"]})
    assert "config.fields" in config_errors("json", {"items_path": "data"})  # required
    assert "config.items_path" in config_errors("json", {"items_path": "data..tasks", "fields": {"title": "t"}})


# feed


def test_rss_items():
    items = parse("feed", document("rss.xml"), {})
    assert [item.title for item in items] == ["Tarefa 5: receita de família", "Aviso: mudança de local", "Tarefa 6"]
    task, notice, content = items
    assert task.key == "gincana-tarefa-5" and task.url == "https://gincana.example/tarefas/5"
    assert task.body == "Preparem uma receita típica da avó. Entrega às 20h."  # HTML stripped
    assert task.published_at == datetime(2026, 11, 22, 17, 30, tzinfo=UTC)
    assert notice.url == "https://gincana.example/avisos/2"  # a permalink guid is the link
    assert notice.body == "A final será no ginásio & não mais na praça."
    assert content.body == "Conteúdo completo da tarefa 6." and content.url == "https://gincana.example/tarefas/6"
    assert content.key is None and content.published_at is None and content.raw["date_text"] == "quando der"


def test_atom_entries():
    first, second = parse("feed", document("atom.xml"), {})
    assert first.title == "Tarefa 7: dança coreografada"  # type="html"
    assert first.url == "https://gincana.example/tarefas/7"  # rel=alternate, not rel=edit
    assert first.key == "tag:gincana.example,2026:tarefa-7"
    assert first.body == "Coreografia de 2 minutos."
    assert first.published_at == datetime(2026, 11, 22, 13, 0, tzinfo=UTC)  # published, not updated
    assert second.url == "https://gincana.example/tarefas/8"  # a link without rel
    assert second.body == "Encontrem a estátua. Dica: praça central."  # type="xhtml"
    assert second.published_at == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # updated, for want of published


def test_feed_limit_and_empty_feed():
    assert len(parse("feed", document("rss.xml"), {"limit": 2})) == 2
    assert parse("feed", document("empty_rss.xml"), {}) == []
    assert "config.limit" in config_errors("feed", {"limit": 0})


@pytest.mark.parametrize(
    ("fixture", "text", "message"),
    [
        ("organizer_tasks.html", None, "not an RSS or Atom feed"),
        ("api_tasks.json", None, "not XML"),
        (None, "", "empty"),
        (None, "<?xml version='1.0'?><urlset><url/></urlset>", "root element is <urlset>"),
    ],
)
def test_not_a_feed_is_a_parse_error(fixture, text, message):
    doc = document(fixture) if fixture else Document(PAGE_URL, text)
    with pytest.raises(ParseError, match=message):
        parse("feed", doc, {})


def test_feed_parser_resolves_no_external_entities(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<rss><channel><item><title>t &xxe;</title><description>d</description></item></channel></rss>"
    )
    (item,) = parse("feed", Document(PAGE_URL, xxe), {})
    assert "TOP-SECRET" not in item.title + item.body + json.dumps(item.raw)


def test_feed_declared_encoding_does_not_mislead_the_decoded_text():
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><rss><channel><item><title>Ação</title></item></channel></rss>'
    assert parse("feed", Document(PAGE_URL, latin), {})[0].title == "Ação"


# page_watch


def test_page_watch_whole_page_minus_ignored_parts():
    doc = document("organizer_tasks.html")
    (item,) = parse("page_watch", doc, {"ignore": ".relogio, header"})
    assert item.title == "Change on Gincana da Primavera 2026 — Tarefas" and item.url == PAGE_URL
    lines = item.body.split("\n")
    assert lines[0] == "Atualizado em" and "Tarefa 1: Foto com o mascote da equipe" in lines
    assert "window.dataLayer" not in item.body and "23:59" not in item.body and "Regulamento" not in item.body
    assert item.key == "sha256:" + hashlib.sha256(item.body.encode()).hexdigest()
    assert item.raw == {}  # no source, nothing to compare with


def test_page_watch_selector_and_slow_engine_agree():
    doc = document("organizer_tasks.html")
    (fast,) = parse("page_watch", doc, {"selector": "#tarefas", "ignore": ".quando"})
    (slow,) = parse("page_watch", doc, {"selector": "section:is(#tarefas)", "ignore": ":is(.quando)"})
    assert fast.body == slow.body and fast.body.startswith("Tarefas publicadas\nTarefa 1:")
    assert "22/11/2026" not in fast.body


def test_page_watch_selector_that_matches_nothing():
    with pytest.raises(ParseError, match=r"^selector '#sumiu' matched nothing$"):
        parse("page_watch", document("organizer_tasks.html"), {"selector": "#sumiu"})


def test_page_watch_config_errors():
    assert "config.selector" in config_errors("page_watch", {"selector": "div["})
    assert "config.ignore" in config_errors("page_watch", {"ignore": "a@href"})
    assert clean_config("page_watch", {}) == {}


def test_page_watch_diffs_against_the_latest_item(db):
    source = Source.objects.create(name="Regulamento", kind="page_watch", url=PAGE_URL)
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    Item.objects.create(source=source, key="sha256:old", content_hash="x", body="Regra 1\nRegra 2", first_seen=now)
    latest = "Regra 1\nPrazo: 20h\nRegra 2"
    Item.objects.create(source=source, key="sha256:new", content_hash="y", body=latest, first_seen=now + timedelta(1))
    page = Document(PAGE_URL, "<html><body><p>Regra 1</p><p>Prazo: 21h</p><p>Regra 2</p><p>Regra 3</p></body>")

    (item,) = parse("page_watch", page, {}, source=source)
    assert item.raw["previous_key"] == "sha256:new"
    diff = item.raw["diff"].split("\n")
    assert diff[:2] == ["--- before", "+++ after"]
    assert {"-Prazo: 20h", "+Prazo: 21h", "+Regra 3"} <= set(diff)

    unchanged = Document(PAGE_URL, "<p>Regra 1</p><p>Prazo: 20h</p><br>Regra 2")
    assert parse("page_watch", unchanged, {}, source=source)[0].raw == {}


def test_page_watch_diff_is_capped():
    text = diff("\n".join(f"a{i}" for i in range(5000)), "\n".join(f"b{i}" for i in range(5000)))
    assert len(text) < DIFF_MAX + 50 and text.endswith("(diff truncated)")


# shared helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T14:30:00-03:00", datetime(2026, 11, 22, 17, 30, tzinfo=UTC)),
        ("2026-11-22T17:30:00Z", datetime(2026, 11, 22, 17, 30, tzinfo=UTC)),
        ("2026-11-22 14:30", datetime(2026, 11, 22, 14, 30, tzinfo=SAO_PAULO)),
        ("Sun, 22 Nov 2026 14:30:00 -0300", datetime(2026, 11, 22, 17, 30, tzinfo=UTC)),
        ("22/11/2026 14:30", datetime(2026, 11, 22, 14, 30, tzinfo=SAO_PAULO)),
        (" 22/11/2026\n às 14h30 ", datetime(2026, 11, 22, 14, 30, tzinfo=SAO_PAULO)),
        ("22/11/2026", datetime(2026, 11, 22, tzinfo=SAO_PAULO)),
        ("22/11/26 9h", datetime(2026, 11, 22, 9, tzinfo=SAO_PAULO)),
        ("22 de novembro de 2026", datetime(2026, 11, 22, tzinfo=SAO_PAULO)),
        ("31/02/2026", None),
        ("amanhã", None),
        ("", None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


def test_html_to_text():
    assert html_to_text("<p>Olá <b>mundo</b>!</p><p>Segunda&nbsp;linha</p><script>x()</script>") == (
        "Olá mundo! Segunda linha"
    )
    assert html_to_text("<p>a</p><p>b<br>c</p>", lines=True) == "a\nb\nc"
    assert html_to_text("  texto   simples ") == "texto simples"
