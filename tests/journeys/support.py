"""What the journeys share: the operator's language (chosen with the dashboard's switcher), the texts a person
sees in it (read from the catalog at test time, so the tests follow the translations instead of repeating them),
the check that no English is left on a Portuguese page, and the phone-width check every journey ends with.

    page = in_language(browser_page, lang)
    expect(page.locator("h1")).to_have_text(t(lang, "Monitored people"))
    no_english(page, lang, ["Monitored people", ("people", "Created")])
"""

import re

from django.utils import translation
from playwright.sync_api import expect

LANGUAGES = ["en", "pt-br"]
PHONE = {"width": 390, "height": 844}


def t(lang, msgid, context=None, **values):
    """`msgid` as the template shows it in `lang` (`context`: a {% translate ... context "x" %}); `values` fill
    a blocktranslate's placeholders."""
    with translation.override(lang):
        text = translation.pgettext(context, msgid) if context else translation.gettext(msgid)
    return text % values if values else text


def in_language(page, lang):
    """Switch the dashboard to `lang` with the header's language switcher (the page reloads in it)."""
    if page.locator("html").get_attribute("lang") != lang:
        with page.expect_navigation():
            page.select_option("#language", lang)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    return page


# The text a person reads: visible text nodes, not what operators or upstreams wrote in code blocks and text boxes
# (a run's error, an answer's JSON, a JSON editor), as the catalog's own test reads pages.
SHOWN = """() => {
  const parts = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const holder = walker.currentNode.parentElement;
    if (holder && !holder.closest("pre, code, textarea, script, style") && holder.checkVisibility())
      parts.push(walker.currentNode.textContent);
  }
  return parts.join(" ");
}"""


def _word(text):
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)", re.IGNORECASE)


def no_english(page, lang, msgids):
    """On a page shown in Portuguese, none of these English msgids is visible (the translation happened).

    An entry is a msgid or a (context, msgid) pair. A msgid the catalog does not translate yet (msgstr equal to
    msgid, or the translation containing the English word itself) is passed over here: the catalog's
    completeness has a test of its own. Compared as whole words, whatever the case (CSS may upper-case headers)."""
    if lang == "en":
        return
    shown = page.evaluate(SHOWN)
    for entry in msgids:
        context, msgid = entry if isinstance(entry, tuple) else (None, entry)
        english = msgid.split("%(")[0].strip()  # a blocktranslate's text before its first placeholder
        if _word(english).search(t(lang, msgid, context)):
            continue  # not translated (yet), or the same word in both languages
        assert not _word(english).search(shown), f"{english!r} is shown untranslated on {page.url}"


def fits_a_phone(page, lang, paths):
    """Each path, opened on a 390×844 phone, in `lang`, fits the screen: nothing scrolls sideways."""
    page.set_viewport_size(PHONE)
    for path in paths:
        page.goto(page.url_for(path))
        page.wait_for_load_state("networkidle")  # the fragments htmx loads on page load are in too
        expect(page.locator("html")).to_have_attribute("lang", lang)
        widths = page.evaluate(
            "() => ({page: document.documentElement.scrollWidth, body: document.body.scrollWidth,"
            " screen: window.innerWidth})"
        )
        assert widths["screen"] == PHONE["width"], widths
        assert widths["page"] <= widths["screen"] and widths["body"] <= widths["screen"], (path, widths)
        page.evaluate("window.scrollTo(1000, 0)")
        assert page.evaluate("window.scrollX") == 0, f"{path} scrolls sideways on a phone"


def said(lang, lazy):
    """A lazily translated label (a model's choice, a kind's name) as `lang` reads it."""
    with translation.override(lang):
        return str(lazy)
