"""What the dashboard's search boxes match, on monitored people and on publications (the same rules as the
admin's search: every word must match somewhere; names compared without accents or case, numbers with or
without their punctuation)."""

import re

from django.db.models import Q
from django.utils.text import smart_split, unescape_string_literal

from scrapers.brazil import digits, known_tribunals, normalize_name

# A search word made of digits and the punctuation of a CPF, CNPJ or process number ("529.982.247-25").
NUMERIC = re.compile(r"[\d.\-/]+")
CNJ_DIGITS = 20  # a process number in CNJ's unified numbering: NNNNNNN-DD.AAAA.J.TR.OOOO


def words(term):
    """The words of a search, quoted phrases kept whole."""
    for word in smart_split(term or ""):
        if word[:1] in {'"', "'"} and word[-1:] == word[:1]:
            word = unescape_string_literal(word)
        if word.strip():
            yield word


def people(queryset, term):
    """People whose name (accents and case ignored), CPF/CNPJ or OAB number contains each word."""
    for word in words(term):
        match = Q(name__icontains=word)
        if name := normalize_name(word):
            match |= Q(normalized_name__contains=name)
        if NUMERIC.fullmatch(word) and (number := digits(word)):
            match |= Q(document__contains=number) | Q(oab_number__contains=number.lstrip("0") or number)
        queryset = queryset.filter(match)
    return queryset


def publications(queryset, term):
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
