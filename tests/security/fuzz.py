"""A property-based fuzz of every write path a browser reaches, shared by the test (CI size) and `bench fuzz`.

The forms are not listed by hand: every page the resolver routes (tests.security.walk, with real objects behind
every id) is fetched as a superuser, and every POST form on it is read from the HTML, with the values it
shows: a change form's values are valid, so changing one to three fields with hostile values exercises
the validation behind them rather than "this field is required". The GET pages are fuzzed through their
filter forms' fields and the query parameters the lists read.

Per case:
- never a server error (5xx);
- a refusal (the database unchanged, no redirect) names its reason on the page, the way forms do;
- a refusal changes nothing: every row of every table is compared (tests.security.world.snapshot).
"""

import json
import os
import traceback
from dataclasses import dataclass, field

from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import strategies as st

from tests.security import world

# Values careless operators, hostile users and spreadsheets send: huge, negative, far-future, deeply nested,
# non-ASCII digits, NUL, CR/LF, template and formula injection, long strings.
HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "-Infinity",
    "99999999999",
    "99999999999999999999999",
    str(2**63),
    "١٢٣",
    "１２３",
    "1_000",
    "9999-12-31T23:59",
    "9999-12-31",
    "31/12/9999",
    "0001-01-01T00:00",
    "0001-01-01",
    "2026-02-30",
    "a\x00b",
    "a\r\nX-Injected: 1",
    "\t",
    "\u200b",
    "\u202e",
    "x" * 100_000,
    "[" * 5000 + "]" * 5000,
    '{"a": ' * 3000 + "1" + "}" * 3000,
    '{"x": "\\ud800"}',
    '{"x": "\\u0000"}',
    '{"n": NaN}',
    "[]",
    "{}",
    "null",
    '"text"',
    "<script>alert(1)</script>",
    "{{ 7|add:7 }}",
    "{% include 'nope.txt' %}",
    "{% load nope %}",
    '=HYPERLINK("http://x")',
    "../../../etc/passwd",
    "localtime",
    "Factory",
    "Etc/GMT+15",
    "http://127.0.0.1:22/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "*/0 * * * *",
    "60 * * * *",
    "0 0 31 2 *",
    "@reboot",
    "+55 11 91234-5678",
    "+٥٥ ١١ ٩١٢٣٤٥٦٧٨",
    "123.456.789-09",
    "12.ABC.345/01DE-35",
]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.datetimes().map(lambda moment: moment.isoformat()),
)
hostile_csv = st.one_of(
    st.sampled_from(
        [
            b"",
            b"\xff\xfe",
            "name,document\nMaria,123\n".encode("utf-16"),
            b'name,document\n"Maria da Silva,123\nJo\xc3\xa3o,456\n',
            b"name;cpf\nMaria\x00;1\n",
            "nome\nMaria\u200bSilva\n".encode(),
            b"name\n" + b"x" * 100_000 + b"\n",
            b"name,monitor_until\nMaria Silva,9999-12-31\n",
            b"name,document\nMaria Silva,12.ABC.345/01DE-35\n",
            b"\x00\x01\x02binary",
        ]
    ),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
)

# Forms whose POST is not a data entry: signing in and out, the language switch, the admin's delete and
# bulk-action confirmations and password changes (they log the session out).
SKIPPED_ACTIONS = ("/login/", "/logout/", "/i18n/", "/admin/logout/", "/admin/login/")
SKIPPED_FIELDS = {"post", "action", "_selected_action", "password", "password1", "old_password"}
# The query parameters the lists read (beyond their filter forms' fields).
LIST_PARAMS = ["before", "after", "job", "source", "person", "channel", "status", "q", "since", "until", "page", "o"]
REFUSAL_MARKERS = ('class="error', 'class="errors', "errorlist", "errornote", 'role="alert"')
REPORT_MARKERS = ('id="import-report"',)  # an import's per-line report: what was taken, and why the rest was not
FILE = object()  # a field that takes an uploaded file


@dataclass
class Form:
    page: str
    action: str
    values: dict  # name -> the value the page shows (or FILE)
    choices: dict = field(default_factory=dict)  # name -> the options of a <select>

    @property
    def names(self):
        return sorted(self.values)


def cases(default):
    """How many cases each fuzz test runs: `default` in the test suite, VIGIA_FUZZ_CASES under `bench fuzz`."""
    return int(os.environ.get("VIGIA_FUZZ_CASES") or default)


@dataclass
class Tally:
    cases: int = 0
    server_errors: int = 0
    stored_on_refusal: int = 0
    silent_refusals: int = 0
    problems: list = field(default_factory=list)

    def record(self, problem):
        self.problems.append(problem)

    def report(self, name):
        """Under `bench fuzz`, add this test's figures to the file it reads (one JSON object per line)."""
        if path := os.environ.get("VIGIA_FUZZ_REPORT"):
            with open(path, "a", encoding="utf-8") as file:
                file.write(json.dumps({"test": name, **self.figures(), "problems": sorted(set(self.problems))[:20]}))
                file.write("\n")

    def figures(self):
        return {
            "cases": self.cases,
            "server_errors": self.server_errors,
            "stored_on_refusal": self.stored_on_refusal,
            "silent_refusals": self.silent_refusals,
        }


def _read_forms(path, html):
    found = []
    for tag in BeautifulSoup(html, "lxml").find_all("form"):
        if (tag.get("method") or "get").lower() != "post":
            continue
        action = tag.get("hx-post") or tag.get("action") or path
        if not action.startswith("/") or action.startswith(SKIPPED_ACTIONS):
            continue
        values, choices = {}, {}
        for element in tag.find_all(["input", "textarea", "select"]):
            name = element.get("name")
            kind = (element.get("type") or "").lower()
            if not name or name == "csrfmiddlewaretoken" or kind in ("submit", "button", "reset"):
                continue
            if element.name == "textarea":
                values[name] = element.text
            elif element.name == "select":
                options = [option.get("value", option.text) for option in element.find_all("option")]
                chosen = element.find("option", selected=True)
                values[name] = chosen.get("value", chosen.text) if chosen else (options[0] if options else "")
                choices[name] = options
            elif kind == "file":
                values[name] = FILE
            elif kind in ("checkbox", "radio"):
                if element.has_attr("checked"):
                    values[name] = element.get("value", "on")
            else:
                values[name] = element.get("value", "")
        if values and not SKIPPED_FIELDS & set(values):
            found.append(Form(path, action, values, choices))
    return found


def discover(client, pages):
    """(the POST forms, the GET paths) of every routed page."""
    forms, paths, seen = [], [], set()
    for page in pages:
        if page.route.startswith("api/"):
            continue  # the API is fuzzed from its OpenAPI document (test_api_fuzz)
        response = client.get(page.path)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        paths.append(page.path)
        for form in _read_forms(page.path, response.content.decode("utf-8", "replace")):
            signature = (form.action, tuple(form.names))
            if signature not in seen:
                seen.add(signature)
                forms.append(form)
    return forms, paths


@st.composite
def post_cases(draw, forms):
    """A form, with one to three of its fields given hostile values (files get hostile CSV bytes)."""
    form = draw(st.sampled_from(forms))
    values = dict(form.values)
    for name in draw(st.sets(st.sampled_from(form.names), min_size=1, max_size=3)):
        if values[name] is FILE:
            values[name] = draw(hostile_csv)
        elif name in form.choices and draw(st.booleans()):
            values[name] = draw(st.sampled_from(form.choices[name] or [""]))
        else:
            values[name] = draw(hostile_text)
    return form, values


@st.composite
def get_cases(draw, paths):
    path = draw(st.sampled_from(paths))
    names = draw(st.sets(st.sampled_from(LIST_PARAMS), min_size=1, max_size=3))
    return path, {name: draw(hostile_text) for name in names}


def _sendable(value):
    if isinstance(value, bytes):
        return SimpleUploadedFile("fuzz.csv", value, content_type="text/csv")
    if value is FILE:
        return SimpleUploadedFile("empty.csv", b"", content_type="text/csv")
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")  # what a browser can send


def post_case(client, form, values, tally, before):
    """Send one case; returns the snapshot to compare the next case with."""
    tally.cases += 1
    data = {name: _sendable(value) for name, value in values.items()}
    label = f"POST {form.action} " + ", ".join(f"{k}={str(v)[:40]!r}" for k, v in values.items() if v != form.values[k])
    response = client.post(form.action, data, HTTP_HX_REQUEST="true" if "hx-" in form.action else None)
    if response.status_code >= 500:
        tally.server_errors += 1
        tally.record(f"{label}: answered {response.status_code}{_error_of(response)}")
        return world.snapshot()
    after = world.snapshot()
    page = response.content.decode("utf-8", "replace") if response.status_code == 200 else ""
    _follow(client, response, label, tally)
    refused = 400 <= response.status_code < 500 or any(marker in page for marker in REFUSAL_MARKERS)
    if refused and after != before:
        tally.stored_on_refusal += 1
        tally.record(f"{label}: refused ({response.status_code}) but stored: {_changed(before, after)}")
    elif response.status_code == 200 and after == before and not refused and not _reported(page, response):
        tally.silent_refusals += 1
        tally.record(f"{label}: refused without a message")
    return after


def _follow(client, response, label, tally):
    """Go where the answer sends the browser, as a browser does: that page shows (and so consumes) the
    messages the action queued, which would otherwise show on the next case's page and be judged its own."""
    target = response.get("Location") if 300 <= response.status_code < 400 else response.get("HX-Redirect")
    if not target or not target.startswith("/") or target.startswith("//"):
        return
    landed = client.get(target)
    if landed.status_code >= 500:
        tally.server_errors += 1
        tally.record(f"{label}: then GET {target} answered {landed.status_code}{_error_of(landed)}")


def _reported(page, response):
    """The page says what happened: an import's report, or HTMX told to go to the saved object."""
    headers = ("HX-Redirect", "HX-Location", "HX-Refresh")
    return any(marker in page for marker in REPORT_MARKERS) or any(response.get(name) for name in headers)


def _changed(before, after):
    return sorted(label for label in after if after[label] != before.get(label))


def get_case(client, path, params, tally):
    tally.cases += 1
    sent = {name: _sendable(value) for name, value in params.items()}
    response = client.get(path, sent)
    if response.status_code >= 500:
        tally.server_errors += 1
        tally.record(f"GET {path} {sent!r:.200}: answered {response.status_code}{_error_of(response)}")


def _error_of(response):
    """The exception behind a 500, when the test client kept it (raise_request_exception off)."""
    info = getattr(response, "exc_info", None)
    if not info:
        return ""
    frames = traceback.extract_tb(info[2])
    where = next((f"{f.filename}:{f.lineno}" for f in reversed(frames) if "/.venv/" not in f.filename), "")
    return f" ({info[0].__name__}: {str(info[1])[:120]} at {where})"
