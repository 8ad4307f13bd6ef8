"""The files an item carries (its images and documents), as each scraper kind finds them, and how a check
stores and announces them without disturbing the items stored before attachments existed."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from scrapers.models import Item, Source
from scrapers.sources import checks
from scrapers.sources.kinds import base, css
from scrapers.sources.kinds.base import Document, ParsedItem, clean_config
from scrapers.sources.kinds.textutil import MAX_ATTACHMENTS
from tests.loopback import organizer

PAGE_URL = "https://gincana.example/gincana/tarefas/"


def parse(kind, text, config, url=PAGE_URL):
    return base.get(kind).parse(Document(url=url, text=text), clean_config(kind, config))


# --- html -------------------------------------------------------------------------------------------------

HTML = """<html><body><ul>
<li class="task" data-id="1"><h3>Foto</h3><img src="mascote.png"><img src="/img/logo%20azul.jpg">
  <a href="regras.pdf" download="Regras da gincana.pdf">regras</a><a href="/t/1">ver</a>
  <img src="mascote.png"></li>
<li class="task" data-id="2"><h3>Cante</h3><a href="https://cdn.example/letra.PDF">letra</a>
  <a href="javascript:alert(1)">x</a></li>
<li class="task" data-id="3"><h3>Sem anexo</h3></li>
</ul></body></html>"""
HTML_CONFIG = {"items": "li.task", "title": "h3", "id": "@data-id"}


def test_html_finds_each_items_files_by_selector_resolved_against_the_page():
    config = {**HTML_CONFIG, "attachments": 'img@src, a[href$=".pdf"]@href, a[href$=".PDF"]@href'}
    first, second, third = parse("html", HTML, config)
    assert first.attachments == [
        {"url": PAGE_URL + "mascote.png", "name": "mascote.png"},  # the repeated image once
        {"url": "https://gincana.example/img/logo%20azul.jpg", "name": "logo azul.jpg"},
        {"url": PAGE_URL + "regras.pdf", "name": "Regras da gincana.pdf"},  # the link's own download name
    ]
    assert second.attachments == [{"url": "https://cdn.example/letra.PDF", "name": "letra.PDF"}]
    assert third.attachments == []


def test_html_without_the_setting_finds_no_files():
    assert all(item.attachments == [] for item in parse("html", HTML, HTML_CONFIG))


def test_html_keeps_at_most_ten_files_per_item():
    images = "".join(f'<img src="/f/{n}.png">' for n in range(25))
    [item] = parse("html", f'<ul><li class="t">{images}</li></ul>', {"items": "li.t", "attachments": "img@src"})
    assert len(item.attachments) == MAX_ATTACHMENTS == 10
    assert item.attachments[0]["url"] == "https://gincana.example/f/0.png"


def test_html_the_lxml_and_soup_engines_find_the_same_files():
    fast, slow = "img@src", "img:is(img)@src"  # :is() is outside the XPath subset: BeautifulSoup + soupsieve
    assert css.Selector("img").xpath is not None and css.Selector("img:is(img)").xpath is None
    by_lxml = parse("html", HTML, {**HTML_CONFIG, "attachments": fast})
    by_soup = parse("html", HTML, {**HTML_CONFIG, "attachments": slow})
    assert [item.attachments for item in by_lxml] == [item.attachments for item in by_soup]
    assert by_lxml[0].attachments  # something was found to compare


@pytest.mark.parametrize(
    "value, words",
    [
        ("img", "must name an element and the attribute"),  # no @attribute: which URL?
        ("img@src, a", "must name an element and the attribute"),
        ("@href", "must name an element and the attribute"),
        ("img[@src", "Invalid CSS selector"),
    ],
)
def test_html_a_bad_attachments_setting_is_a_field_error(value, words):
    with pytest.raises(ValidationError) as caught:
        clean_config("html", {**HTML_CONFIG, "attachments": value})
    assert words in " ".join(caught.value.message_dict["config.attachments"])


def test_html_a_comma_inside_an_attribute_value_does_not_split_the_setting():
    page = '<ul><li class="t"><a href="/a,b.pdf" title="x,y">a</a></li></ul>'
    [item] = parse("html", page, {"items": "li.t", "attachments": 'a[title="x,y"]@href'})
    assert item.attachments == [{"url": "https://gincana.example/a,b.pdf", "name": "a,b.pdf"}]


# --- feed -------------------------------------------------------------------------------------------------

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Gincana</title>
<item><title>Tarefa 1</title><link>https://gincana.example/t/1</link><guid>t1</guid>
  <enclosure url="https://gincana.example/files/tarefa1.pdf" type="application/pdf" length="1234"/>
  <enclosure url="/files/mapa.jpg" type="image/jpeg" length="99"/>
  <enclosure url="https://gincana.example/podcast.mp3" type="audio/mpeg" length="5000000"/></item>
<item><title>Tarefa 2</title><guid>t2</guid></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>G</title>
<entry><title>Tarefa 1</title><id>urn:t1</id><link href="https://gincana.example/t/1"/>
  <link rel="enclosure" href="https://gincana.example/f/foto.png" type="image/png" title="Foto da praça"/>
  <link rel="related" href="https://gincana.example/outra"/></entry>
</feed>"""


def test_feed_rss_enclosures_are_the_items_files_without_audio_or_video():
    first, second = parse("feed", RSS, {})
    assert first.attachments == [
        {"url": "https://gincana.example/files/tarefa1.pdf", "name": "tarefa1.pdf"},
        {"url": "https://gincana.example/files/mapa.jpg", "name": "mapa.jpg"},
    ]
    assert second.attachments == []


def test_feed_atom_enclosure_links_are_the_entrys_files():
    [entry] = parse("feed", ATOM, {})
    assert entry.attachments == [{"url": "https://gincana.example/f/foto.png", "name": "Foto da praça"}]
    assert entry.url == "https://gincana.example/t/1"  # the enclosure is not the entry's link


# --- json -------------------------------------------------------------------------------------------------

API = json.dumps(
    {
        "tasks": [
            {"id": 1, "title": "Foto", "image": "/media/1.png"},
            {"id": 2, "title": "Lista", "files": ["a.pdf", "b.pdf", "a.pdf", 7]},
            {"id": 3, "title": "Objetos", "files": [{"url": "/c.docx", "name": "Regulamento.docx"}, {"x": 1}]},
            {"id": 4, "title": "Nada"},
        ]
    }
)


@pytest.mark.parametrize(
    "path, expected",
    [
        ("image", [[{"url": "https://gincana.example/media/1.png", "name": "1.png"}], [], [], []]),
        (
            "files",
            [
                [],
                [
                    {"url": PAGE_URL + "a.pdf", "name": "a.pdf"},
                    {"url": PAGE_URL + "b.pdf", "name": "b.pdf"},
                ],
                [{"url": "https://gincana.example/c.docx", "name": "Regulamento.docx"}],
                [],
            ],
        ),
    ],
)
def test_json_a_path_to_a_url_or_a_list_of_them(path, expected):
    config = {"items_path": "tasks", "fields": {"title": "title", "id": "id"}, "attachments": path}
    assert [item.attachments for item in parse("json", API, config)] == expected


def test_json_a_bad_attachments_path_is_a_field_error():
    with pytest.raises(ValidationError) as caught:
        clean_config("json", {"fields": {"title": "t"}, "attachments": "a..b"})
    assert "config.attachments" in caught.value.message_dict


# --- a check stores and announces them ------------------------------------------------------------------


def test_an_item_without_files_keeps_the_hash_it_had_before_attachments_existed():
    item = ParsedItem(title="Tarefa", url="https://gincana.example/t/1", body="Cante")
    # The hash stored before attachments existed: sha256 of ["Tarefa", url, "Cante", ""] as JSON, as a literal so a
    # change in how hashes are computed is caught too.
    before = "c80d3210a6d5485b96c51cf2e2b329a8e1e2023127f80b0c1ed8e36e4ace06d0"
    assert checks.content_hash(item) == before
    item.attachments = [{"url": "https://gincana.example/f.png", "name": "f.png"}]
    assert checks.content_hash(item) != before  # a file added to a task is a change


@pytest.mark.django_db
def test_a_check_stores_the_files_and_announces_them(site, monkeypatch):
    published = []
    monkeypatch.setattr(checks, "publish", lambda topic, event, key=None, also=(): published.append(event))
    source = organizer.make_source(site.url + "/tarefas", config={**organizer.CONFIG, "attachments": "img@src"})
    Source.objects.filter(pk=source.pk).update(announce_first_check=True)
    task = '<li class="task" data-id="1"><h3>Foto</h3><img src="/f/mascote.png"><p>Tirem uma foto</p></li>'
    site.respond("/tarefas", body=f"<html><body><ul>{task}</ul></body></html>")
    checks.check_source(Source.objects.get(pk=source.pk))

    file = {"url": site.url + "/f/mascote.png", "name": "mascote.png"}
    assert Item.objects.get(source=source).attachments == [file]
    [event] = published
    assert event["type"] == "item.new" and event["attachments"] == [file]

    # The same task with a second image: a change, announced with both files.
    second = task.replace("</li>", '<img src="/f/b.jpg"></li>')
    site.reset()
    site.respond("/tarefas", body=f"<html><body><ul>{second}</ul></body></html>")
    checks.check_source(Source.objects.get(pk=source.pk))
    assert published[-1]["type"] == "item.updated"
    assert [f["name"] for f in published[-1]["attachments"]] == ["mascote.png", "b.jpg"]
    assert [f["name"] for f in Item.objects.get(source=source).attachments] == ["mascote.png", "b.jpg"]
    [revision] = Item.objects.get(source=source).revisions.all()  # the version before keeps its own files
    assert revision.attachments == [file]


@pytest.mark.django_db
def test_the_items_page_shows_a_changed_file_as_a_change(site, viewer_client):
    source = organizer.make_source(site.url + "/tarefas", config={**organizer.CONFIG, "attachments": "img@src"})
    task = '<li class="task" data-id="1"><h3>Foto</h3><img src="/f/mascote.png"><p>Tirem uma foto</p></li>'
    site.respond("/tarefas", body=f"<html><body><ul>{task}</ul></body></html>")
    checks.check_source(Source.objects.get(pk=source.pk))
    site.reset()  # the organizer swaps the image, nothing else
    site.respond("/tarefas", body=f"<html><body><ul>{task.replace('mascote.png', 'mascote-v2.png')}</ul></body></html>")
    checks.check_source(Source.objects.get(pk=source.pk))

    found = Item.objects.get(source=source)
    page = viewer_client.get(reverse("scrapers:item", args=[found.pk])).content.decode()

    assert "This item has not changed" not in page and "Only fields not shown here changed" not in page
    assert f"<del>{site.url}/f/mascote.png</del>" in page and f"<ins>{site.url}/f/mascote-v2.png</ins>" in page


@pytest.mark.django_db
def test_items_without_files_announce_no_attachments_key(site, monkeypatch):
    published = []
    monkeypatch.setattr(checks, "publish", lambda topic, event, key=None, also=(): published.append(event))
    source = organizer.make_source(site.url + "/tarefas")
    Source.objects.filter(pk=source.pk).update(announce_first_check=True)
    site.respond("/tarefas", body=organizer.page((1, "Tarefa", "Cante")))
    checks.check_source(Source.objects.get(pk=source.pk))
    [event] = published
    assert "attachments" not in event  # the payload stays as it was for the items of every source before


@pytest.mark.django_db
def test_an_items_page_lists_its_files_as_links_escaped(viewer_client):
    source = organizer.make_source("http://127.0.0.1:9/tarefas")
    files = [
        {"url": "https://gincana.example/f/regras.pdf?a=1&b=2", "name": "Regras <b>oficiais</b>.pdf"},
        {"url": "javascript:alert(1)", "name": "<img src=x onerror=alert(1)>"},  # never a link
    ]
    found = Item.objects.create(source=source, key="1", title="Tarefa", content_hash="h", attachments=files)

    page = viewer_client.get(reverse("scrapers:item", args=[found.pk])).content.decode()

    assert 'href="https://gincana.example/f/regras.pdf?a=1&amp;b=2"' in page
    assert "Regras &lt;b&gt;oficiais&lt;/b&gt;.pdf" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and 'href="javascript:' not in page
