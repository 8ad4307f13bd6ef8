"""Brazilian identifiers a law office types: names as the court journal writes them, CPF/CNPJ with their
check digits, OAB registrations, states (UF) and tribunal acronyms."""

import re
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

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


def normalize_name(text):
    """'  José  da SILVA ' → 'jose da silva': no accents, case-folded, punctuation as spaces, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", plain).replace("_", " ").split())


def contains_name(haystack, name):
    """Whether the normalized `name` occurs in the normalized `haystack` as whole words."""
    return bool(name) and f" {name} " in f" {haystack} "


def digits(text):
    return re.sub(r"\D", "", text or "")


def clean_document(value):
    """A CPF (11 digits) or CNPJ (14 digits), punctuation allowed; returns the digits. Raises ValidationError."""
    number = digits(value)
    if not number:
        return ""
    if len(number) == 11:
        if not _cpf_ok(number):
            raise ValidationError(_("Invalid CPF: the check digits do not match."))
    elif len(number) == 14:
        if not _cnpj_ok(number):
            raise ValidationError(_("Invalid CNPJ: the check digits do not match."))
    else:
        raise ValidationError(_("A CPF has 11 digits and a CNPJ 14."))
    return number


def _cpf_ok(number):
    if len(set(number)) == 1:  # 000.000.000-00 and the like pass the arithmetic but are not CPFs
        return False
    for length in (9, 10):
        total = sum(int(d) * w for d, w in zip(number[:length], range(length + 1, 1, -1), strict=True))
        if (total * 10 % 11) % 10 != int(number[length]):
            return False
    return True


def _cnpj_ok(number):
    if len(set(number)) == 1:
        return False
    weights = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for length in (12, 13):
        total = sum(int(d) * w for d, w in zip(number[:length], weights[13 - length :], strict=True))
        check = 0 if total % 11 < 2 else 11 - total % 11
        if check != int(number[length]):
            return False
    return True


def format_document(number):
    if len(number) == 11:
        return f"{number[:3]}.{number[3:6]}.{number[6:9]}-{number[9:]}"
    if len(number) == 14:
        return f"{number[:2]}.{number[2:5]}.{number[5:8]}/{number[8:12]}-{number[12:]}"
    return number


def clean_oab(number, uf):
    """(number, UF) of an OAB registration, e.g. ('123456', 'SP'); ('', '') when neither is given."""
    number, uf = digits(number).lstrip("0"), (uf or "").strip().upper()
    errors = {}
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


def known_tribunals():
    return TRIBUNALS | {name.upper() for name in settings.VIGIA_EXTRA_TRIBUNALS}


def clean_tribunals(value):
    """'tjsp, TRT2 ;TRF3' or a list → ['TJSP', 'TRT2', 'TRF3'] (upper-case, de-duplicated, in order)."""
    parts = value if isinstance(value, list | tuple) else re.split(r"[\s,;|]+", value or "")
    found = []
    for part in parts:
        name = str(part).strip().upper()
        if name and name not in found:
            found.append(name)
    unknown = [name for name in found if name not in known_tribunals()]
    if unknown:
        raise ValidationError(
            _("Unknown tribunal acronym(s): %(names)s. Use DJEN's acronyms, e.g. TJSP, TRT2, TRF3, STJ."),
            params={"names": ", ".join(unknown)},
        )
    return found
