"""What the dashboard's search boxes match, on monitored people and on publications (the same rules as the
admin's search: every word must match somewhere; names compared without accents or case, numbers with or
without their punctuation)."""

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.text import smart_split, unescape_string_literal

from scrapers.people.brazil import digits, document_characters, known_tribunals, normalize_name

if TYPE_CHECKING:
    from scrapers.people.models import MonitoredPerson, Publication

# A search word made of digits and the punctuation of a CPF, CNPJ or process number ("529.982.247-25").
NUMERIC = re.compile(r"[\d.\-/]+")
CNJ_DIGITS = 20  # a process number in CNJ's unified numbering: NNNNNNN-DD.AAAA.J.TR.OOOO


def words(term: str | None) -> Iterator[str]:
    """The words of a search, quoted phrases kept whole."""
    for word in smart_split(term or ""):
        if word[:1] in {'"', "'"} and word[-1:] == word[:1]:
            word = unescape_string_literal(word)
        if word.strip():
            yield word


def document_part(word: str) -> str:
    """A search word as part of a stored CPF/CNPJ ("12.abc.345" → "12ABC345", the way clean_document stores
    it), or "" when the word holds no digit or a character no CPF/CNPJ has."""
    try:
        part = document_characters(word)
    except ValidationError:
        return ""
    return part if any(char.isdigit() for char in part) else ""


def people(queryset: "QuerySet[MonitoredPerson]", term: str | None) -> "QuerySet[MonitoredPerson]":
    """People whose name (accents and case ignored), CPF/CNPJ or OAB number contains each word."""
    for word in words(term):
        match = Q(name__icontains=word)
        if name := normalize_name(word):
            match |= Q(normalized_name__contains=name)
        if part := document_part(word):
            match |= Q(document__contains=part)
            if part.isdigit():
                match |= Q(oab_number__contains=part.lstrip("0") or part)
        queryset = queryset.filter(match)
    return queryset


def publications(queryset: "QuerySet[Publication]", term: str | None) -> "QuerySet[Publication]":
    """Publications matching each word: a number as the process number (a whole CNJ number, 20 digits with or
    without its mask, through the process_number index) or the communication's number; a tribunal acronym
    as the tribunal; any other word in the text (through the trigram index on PostgreSQL; words shorter than
    three letters, in nearly every text, are left out). Callers bound the query with a LIMIT."""
    tribunals = known_tribunals()
    for word in words(term):
        if NUMERIC.fullmatch(word) and (number := digits(word)):
            if len(number) == CNJ_DIGITS:
                match = Q(process_number=number)
            else:
                match = Q(process_number__contains=number) | Q(number=word)
        elif word.upper() in tribunals:
            match = Q(tribunal=word.upper())
        elif len(word) >= 3:
            match = Q(text__icontains=word)
        else:
            continue
        queryset = queryset.filter(match)
    return queryset
