"""Fail when the pt-BR catalog is behind the code: a message in a template or in Python that has no
translation (or only a fuzzy one), or a compiled django.mo that differs from django.po.

Runs `makemessages` on a scratch copy of the project's locale folder (the committed files stay as they
are) and `msgfmt` (GNU gettext) for the comparison."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "locale" / "pt_BR" / "LC_MESSAGES"
# The same options as `make messages`: only our code, no line numbers (they churn on every edit).
MAKEMESSAGES = ["--no-obsolete", "--no-location", "-v", "0", "-i", ".venv", "-i", "data", "-i", "tests", "-i", "deploy"]


def untranslated(po_text):
    """msgids whose msgstr is empty or marked fuzzy (the header entry excluded)."""
    missing = []
    for block in po_text.split("\n\n"):
        msgid = "".join(re.findall(r'^(?:msgid|msgid_plural)? ?"(.*)"$', block.split("msgstr")[0], re.M))
        if not msgid or block.lstrip().startswith("#~"):
            continue
        strings = re.findall(r'^msgstr(?:\[\d\])? ((?:".*"\n?)+)', block, re.M)
        empty = not strings or any(not "".join(re.findall(r'"(.*)"', s)) for s in strings)
        if empty or "#, fuzzy" in block:
            missing.append(msgid)
    return missing


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "catalog-check")
    original = (CATALOG / "django.po").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copy(CATALOG / "django.po", Path(scratch) / "django.po")
        try:
            subprocess.run(
                [sys.executable, "manage.py", "makemessages", "-l", "pt_BR", *MAKEMESSAGES],
                cwd=ROOT,
                check=True,
            )
            refreshed = (CATALOG / "django.po").read_text(encoding="utf-8")
        finally:
            shutil.copy(Path(scratch) / "django.po", CATALOG / "django.po")
        compiled = Path(scratch) / "django.mo"
        subprocess.run(["msgfmt", "-o", compiled, CATALOG / "django.po"], check=True)
        stale = compiled.read_bytes() != (CATALOG / "django.mo").read_bytes()
    missing = untranslated(refreshed)
    assert (CATALOG / "django.po").read_text(encoding="utf-8") == original
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    if stale:
        print("locale/pt_BR/LC_MESSAGES/django.mo is not django.po compiled: run manage.py compilemessages")
    if missing or stale:
        sys.exit(1)
    print("pt-BR catalog: complete and compiled")


if __name__ == "__main__":
    main()
