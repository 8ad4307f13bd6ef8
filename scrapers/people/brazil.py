"""Brazilian identifiers a law office types: names as the court journal writes them, CPF/CNPJ with their
check digits, OAB registrations, states (UF) and tribunal acronyms."""

import functools
import itertools
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

UFS = frozenset("AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO".split())
_STATE_COURTS = [f"TJ{uf}" for uf in UFS if uf != "DF"] + ["TJDFT"]
_ELECTORAL = [f"TRE-{uf}" for uf in UFS]
TRIBUNALS = frozenset(
    ["STF", "STJ", "TST", "TSE", "STM", "CNJ", "CJF", "CSJT", "TNU", "TJMMG", "TJMRS", "TJMSP"]
    + [f"TRF{n}" for n in range(1, 7)]
    + [f"TRT{n}" for n in range(1, 25)]
    + _STATE_COURTS
    + _ELECTORAL
)


# A CNPJ's first 12 characters may hold capital letters from July 2026 (Receita Federal's alphanumeric CNPJ);
# its two check digits stay digits, computed as before over each character's code minus 48 ('0' → 0, 'A' → 17).
CNPJ = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
CPF_WEIGHTS = range(11, 1, -1)
CNPJ_WEIGHTS = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
DOCUMENT_PUNCTUATION = frozenset(".-/")


def invisible(char: str) -> bool:
    """Format characters (zero-width spaces and joiners, direction marks, BOM) and control characters other
    than tab and line breaks: nothing a reader sees, and nothing a name or a number is made of."""
    return unicodedata.category(char) in {"Cf", "Cc"} and char not in "\t\n\r"


@functools.cache
def _invisible_pattern() -> re.Pattern[str]:
    """Every invisible character as one regular expression, built on first use from the planes that have
    any (the multilingual ones and plane 14's tags): 0.05 s, not 0.3 s over all of Unicode."""
    codes = itertools.chain(range(0x20000), range(0xE0000, 0xE1000))
    found = "".join(re.escape(chr(code)) for code in codes if invisible(chr(code)))
    return re.compile(f"[{found}]+")


def without_invisible(text: str | None) -> str:
    return _invisible_pattern().sub("", text or "")


def normalize_name(text: str | None) -> str:
    """'  José  da SILVA ' → 'jose da silva': no accents, case-folded, punctuation as spaces, spaces collapsed.
    Invisible characters (a zero-width space pasted inside a word, a soft hyphen) are dropped, not spaced."""
    if text and len(text) <= 300:  # a name: an import asks for the same one several times
        return _normalize_short(text)
    return _normalize(text)


@functools.lru_cache(maxsize=4096)
def _normalize_short(text: str) -> str:
    return _normalize(text)


def _normalize(text: str | None) -> str:
    decomposed = unicodedata.normalize("NFKD", without_invisible(text))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", plain).replace("_", " ").split())


def contains_name(haystack: str, name: str) -> bool:
    """Whether the normalized `name` occurs in the normalized `haystack` as whole words."""
    return bool(name) and f" {name} " in f" {haystack} "


def digits(text: str | None) -> str:
    """The decimal digits of `text`, as ASCII: '٥٢٩' (Arabic-Indic) and '５２９' (full-width) give '529'."""
    return "".join(str(unicodedata.decimal(char)) for char in text or "" if char.isdecimal())


def _document_char(char: str) -> str | None:
    """One typed character of a CPF/CNPJ as stored ('' for punctuation), or None when it cannot be one.
    Digits of any script are the digits they mean (a phone keyboard or a PDF gives Arabic-Indic or
    full-width ones); full-width letters are their ASCII letters. Other letters, lookalikes included
    (Cyrillic 'А'), are refused: stored, they would never equal the number DJEN or a search gives."""
    if char.isascii():
        if char.isalnum():
            return char.upper()
        return "" if char in DOCUMENT_PUNCTUATION or char.isspace() else None
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    if "\uff01" <= char <= "\uff5e":  # full-width forms of ASCII
        return _document_char(unicodedata.normalize("NFKC", char))
    return "" if char.isspace() or invisible(char) else None


def shown(char: str) -> str:
    """A character as a message can name it: 'x'; a non-ASCII one with its code point (a Cyrillic 'А' looks
    like a Latin 'A'); an unprintable one only by its code point."""
    if char.isascii() and char.isprintable():
        return f"'{char}'"
    return f"'{char}' (U+{ord(char):04X})" if char.isprintable() else f"U+{ord(char):04X}"


def document_characters(value: str | None) -> str:
    """A typed CPF/CNPJ as stored: ASCII digits and capital letters, punctuation and spaces dropped. Raises
    ValidationError naming a character that cannot be part of one."""
    found: list[str] = []
    for char in value or "":
        mapped = _document_char(char)
        if mapped is None:
            raise ValidationError(
                _("%(char)s cannot be part of a CPF/CNPJ: use digits, letters A-Z (a CNPJ's first 12) and . / -."),
                params={"char": shown(char)},
            )
        found.append(mapped)
    return "".join(found)


def clean_document(value: str | None) -> str:
    """A CPF (11 digits) or a CNPJ (14 characters: 12 digits or capital letters, then 2 check digits),
    punctuation allowed, lower-case letters taken as capitals; returns it as stored (no punctuation).
    Raises ValidationError."""
    number = document_characters(value)
    if not number:
        return ""
    if len(number) == 11 and number.isdigit():
        if not _cpf_ok(number):
            raise ValidationError(_("Invalid CPF: the check digits do not match."))
    elif len(number) == 14 and CNPJ.fullmatch(number):
        if not _cnpj_ok(number):
            raise ValidationError(_("Invalid CNPJ: the check digits do not match."))
    elif len(number) == 14 and number[:12].isalnum():
        raise ValidationError(_("A CNPJ ends with two check digits, not letters."))
    else:
        raise ValidationError(_("A CPF has 11 digits and a CNPJ 14 characters (digits, or letters in the first 12)."))
    return number


def _check_digit(body: str, weights: Sequence[int]) -> str:
    """The modulo-11 check digit of CPF and CNPJ: the characters' values (code - 48) weighted right-aligned."""
    total = sum((ord(char) - 48) * weight for char, weight in zip(body, weights[-len(body) :], strict=True))
    rest = total % 11
    return "0" if rest < 2 else str(11 - rest)


def with_check_digits(body: str) -> str:
    """9 CPF digits or 12 CNPJ characters → the whole valid document (tests and benchmarks generate them)."""
    weights = list(CPF_WEIGHTS) if len(body) == 9 else CNPJ_WEIGHTS
    first = _check_digit(body, weights)
    return body + first + _check_digit(body + first, weights)


def _cpf_ok(number: str) -> bool:
    # 000.000.000-00 and the like pass the arithmetic but are not CPFs
    return len(set(number)) > 1 and with_check_digits(number[:9]) == number


def _cnpj_ok(number: str) -> bool:
    return len(set(number)) > 1 and with_check_digits(number[:12]) == number


def format_document(number: str) -> str:
    """The stored CPF/CNPJ with its usual punctuation: 529.982.247-25, 12.ABC.345/01DE-35."""
    if len(number) == 11:
        return f"{number[:3]}.{number[3:6]}.{number[6:9]}-{number[9:]}"
    if len(number) == 14:
        return f"{number[:2]}.{number[2:5]}.{number[5:8]}/{number[8:12]}-{number[12:]}"
    return number


def mask_document(number: str) -> str:
    """The stored CPF/CNPJ as a viewer sees it: the middle digits only, as public records print a CPF
    (***.982.247-**, **.ABC.345/****-**). Empty stays empty."""
    if len(number) == 11:
        return f"***.{number[3:6]}.{number[6:9]}-**"
    if len(number) == 14:
        return f"**.{number[2:5]}.{number[5:8]}/****-**"
    return "*" * len(number)


def clean_oab(number: str | None, uf: str | None) -> tuple[str, str]:
    """(number, UF) of an OAB registration, e.g. ('123456', 'SP'); ('', '') when neither is given."""
    number, uf = digits(number).lstrip("0"), (uf or "").strip().upper()
    errors: dict[str, str] = {}
    if number and not uf:
        errors["oab_uf"] = _("Give the OAB's state (UF) with its number.")
    if uf and not number:
        errors["oab_number"] = _("Give the OAB number with its state.")
    if uf and uf not in UFS:
        errors["oab_uf"] = _("'%(uf)s' is not a Brazilian state (UF).") % {"uf": uf}
    if number and len(number) > 7:
        errors["oab_number"] = _("An OAB number has at most 7 digits.")
    if errors:
        raise ValidationError(errors)
    return number, uf


def known_tribunals() -> frozenset[str]:
    return TRIBUNALS | {name.upper() for name in settings.VIGIA_EXTRA_TRIBUNALS}


def clean_tribunals(value: str | list[Any] | tuple[Any, ...] | None) -> list[str]:
    """'tjsp, TRT2 ;TRF3' or a list → ['TJSP', 'TRT2', 'TRF3'] (upper-case, de-duplicated, in order)."""
    parts = value if isinstance(value, list | tuple) else re.split(r"[\s,;|]+", value or "")
    found: list[str] = []
    for part in parts:
        name = str(part).strip().upper()
        if name and name not in found:
            found.append(name)
    unknown = [name for name in found if name not in known_tribunals()]
    if unknown:
        raise ValidationError(
            ngettext(  # one English wording; the plural form lets other languages agree with the count
                "Unknown tribunal acronym(s): %(names)s. Use DJEN's acronyms, e.g. TJSP, TRT2, TRF3, STJ.",
                "Unknown tribunal acronym(s): %(names)s. Use DJEN's acronyms, e.g. TJSP, TRT2, TRF3, STJ.",
                len(unknown),
            ),
            params={"names": ", ".join(unknown)},
        )
    return found
