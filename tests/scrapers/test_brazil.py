"""Brazilian identifiers (names, CPF/CNPJ, OAB, tribunals) and PersonForm, the one validation of a person."""

import random
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from scrapers.models import MonitoredPerson
from scrapers.people import brazil
from scrapers.people.services import PersonForm

# --- check digits computed here, independently of brazil.py ---------------------------------------


def _mod11(body, weights):
    # Receita Federal's rule, for the alphanumeric CNPJ too: a character is worth its ASCII code minus 48.
    rest = sum((ord(d) - 48) * w for d, w in zip(body, weights, strict=True)) % 11
    return "0" if rest < 2 else str(11 - rest)


def make_cpf(body):
    """Nine digits → a valid CPF."""
    first = _mod11(body, range(10, 1, -1))
    return body + first + _mod11(body + first, range(11, 1, -1))


def make_cnpj(body):
    """Twelve digits or capital letters → a valid CNPJ."""
    first = _mod11(body, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return body + first + _mod11(body + first, [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])


def test_the_generators_agree_with_known_documents():
    assert make_cpf("529982247") == "52998224725"
    assert make_cnpj("112223330001") == "11222333000181"
    assert make_cnpj("12ABC34501DE") == "12ABC34501DE35"  # Receita Federal's example


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("José da Silva", "jose da silva"),
        ("  JOSÉ   DA  SILVA ", "jose da silva"),
        ("João D'Ávila-Conceição", "joao d avila conceicao"),
        ("MARÍA_ÑUÑEZ, Jr.", "maria nunez jr"),
        ("Straße", "strasse"),  # case-folded, not only lower-cased
        ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),  # NFKD compatibility forms
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_name(text, expected):
    assert brazil.normalize_name(text) == expected


def test_contains_name_matches_whole_words_only():
    assert brazil.contains_name("intime-se jose da silva e outros", "jose da silva")
    assert not brazil.contains_name("intime-se jose da silvana", "jose da silva")
    assert not brazil.contains_name("anything", "")


# --- CPF / CNPJ -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, digits",
    [
        ("529.982.247-25", "52998224725"),
        ("52998224725", "52998224725"),
        (" 529 982 247 25 ", "52998224725"),
        ("11.222.333/0001-81", "11222333000181"),
        ("11222333000181", "11222333000181"),
        ("", ""),
        (None, ""),
    ],
)
def test_valid_documents_are_returned_as_digits(typed, digits):
    assert brazil.clean_document(typed) == digits


def test_generated_documents_are_valid_and_any_wrong_check_digit_is_not():
    rng = random.Random(7)
    for _ in range(50):
        cpf = make_cpf("".join(rng.choice("0123456789") for _ in range(9)))
        cnpj = make_cnpj("".join(rng.choice("0123456789") for _ in range(12)))
        for number in (cpf, cnpj):
            if len(set(number)) == 1:
                continue
            assert brazil.clean_document(number) == number
            for position in (-2, -1):
                wrong = list(number)
                wrong[position] = str((int(wrong[position]) + 1) % 10)
                with pytest.raises(ValidationError):
                    brazil.clean_document("".join(wrong))


@pytest.mark.parametrize(
    "typed, message",
    [
        ("529.982.247-26", "Invalid CPF"),
        ("529.982.247-35", "Invalid CPF"),
        ("11.222.333/0001-82", "Invalid CNPJ"),
        ("111.111.111-11", "Invalid CPF"),  # repeated digits pass the arithmetic but are not CPFs
        ("000.000.000-00", "Invalid CPF"),
        ("00.000.000/0000-00", "Invalid CNPJ"),
        ("99999999999999", "Invalid CNPJ"),
        ("1234567890", "A CPF has 11 digits and a CNPJ 14 characters"),
        ("123456789012", "A CPF has 11 digits and a CNPJ 14 characters"),
        ("٥٢٩.٩٨٢.٢٤٧-٢٦", "Invalid CPF"),  # digits of another script are checked as the digits they mean
    ],
)
def test_invalid_documents(typed, message):
    with pytest.raises(ValidationError, match=message):
        brazil.clean_document(typed)


def test_format_document():
    assert brazil.format_document("52998224725") == "529.982.247-25"
    assert brazil.format_document("11222333000181") == "11.222.333/0001-81"
    assert brazil.format_document("") == ""


# --- the alphanumeric CNPJ (from July 2026): letters in the first 12 places, the same check digits ------


@pytest.mark.parametrize(
    "typed", ["12.ABC.345/01DE-35", "12ABC34501DE35", "12.abc.345/01de-35", " 12 ABC 345 01DE 35 "]
)
def test_the_alphanumeric_cnpj_is_accepted_in_capitals_without_punctuation(typed):
    assert brazil.clean_document(typed) == "12ABC34501DE35"
    assert brazil.format_document(brazil.clean_document(typed)) == "12.ABC.345/01DE-35"


def test_generated_alphanumeric_cnpjs_are_valid_and_any_wrong_check_digit_is_not():
    rng = random.Random(11)
    for _ in range(200):
        cnpj = make_cnpj("".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(12)))
        assert brazil.clean_document(brazil.format_document(cnpj)) == cnpj
        for position in (-2, -1):
            wrong = list(cnpj)
            wrong[position] = str((int(wrong[position]) + 1) % 10)
            with pytest.raises(ValidationError, match="Invalid CNPJ: the check digits do not match."):
                brazil.clean_document("".join(wrong))


@pytest.mark.parametrize(
    "typed, message",
    [
        ("12.ABC.345/01DE-36", "Invalid CNPJ: the check digits do not match."),
        ("12.ABC.345/01DE-3A", "A CNPJ ends with two check digits, not letters."),
        ("12.ABC.345/01DE", "A CPF has 11 digits and a CNPJ 14 characters (digits, or letters in the first 12)."),
        ("529.982.247-2A", "A CPF has 11 digits and a CNPJ 14 characters (digits, or letters in the first 12)."),
        ("ABCDEFGHIJK", "A CPF has 11 digits and a CNPJ 14 characters (digits, or letters in the first 12)."),
        # A Cyrillic А looks like the Latin A; stored, it would never match the real CNPJ.
        ("12.АBC.345/01DE-35", "'А' (U+0410) cannot be part of a CPF/CNPJ"),
        ("12.ÀBC.345/01DE-35", "'À' (U+00C0) cannot be part of a CPF/CNPJ"),
        ("529.982.247-2²", "'²' (U+00B2) cannot be part of a CPF/CNPJ"),  # a superscript is not a digit
        ("529.982.247_25", "'_' cannot be part of a CPF/CNPJ"),
        ("529982247\x0025", "U+0000 cannot be part of a CPF/CNPJ"),
        ("529982247\ud80025", "U+D800 cannot be part of a CPF/CNPJ"),
    ],
)
def test_a_hostile_document_gets_a_message_naming_the_problem(typed, message):
    with pytest.raises(ValidationError) as raised:
        brazil.clean_document(typed)
    assert raised.value.messages[0].startswith(message)


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("٥٢٩.٩٨٢.٢٤٧-٢٥", "52998224725"),  # Arabic-Indic digits
        ("۵۲۹۹۸۲۲۴۷۲۵", "52998224725"),  # Extended Arabic-Indic (Persian) digits
        ("５２９．９８２．２４７－２５", "52998224725"),  # full-width, as a Japanese keyboard types them
        ("１２．ａｂｃ．３４５／０１ｄｅ－３５", "12ABC34501DE35"),
        ("529.982.247-25\u200b", "52998224725"),  # a zero-width space pasted from a web page
    ],
)
def test_digits_of_other_scripts_are_stored_as_the_ascii_digits_they_mean(typed, stored):
    assert brazil.clean_document(typed) == stored


def test_digits_reads_other_scripts_as_ascii():
    assert brazil.digits("OAB ١٢٣.٤٥٦") == "123456"
    assert brazil.digits("１２３") == "123"


def test_normalize_name_drops_invisible_characters_instead_of_splitting_words():
    assert brazil.normalize_name("Jo\u200bsé da Sil\u00adva\u2060") == "jose da silva"


def test_the_form_stores_an_alphanumeric_cnpj_and_finds_its_twin_however_it_is_typed(db):
    form = bound(name="Empresa Nova Ltda", document="12.abc.345/01de-35")
    assert form.is_valid(), form.errors
    person = form.save()
    assert person.document == "12ABC34501DE35"

    assert bound(name="EMPRESA NOVA LTDA", document="12ABC34501DE35").errors["name"] == [
        f"Already monitored: Empresa Nova Ltda (#{person.pk})."
    ]


def test_the_form_drops_invisible_characters_from_a_name(db):
    form = bound(name="Jo\u200bsé\u200d da\u00a0Silva\u202e")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["name"] == "José da Silva"


# --- OAB ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number, uf, expected",
    [
        ("123456", "SP", ("123456", "SP")),
        ("123.456", " sp ", ("123456", "SP")),
        ("0012345", "rj", ("12345", "RJ")),  # leading zeros dropped, as DJEN writes them
        ("1234567", "DF", ("1234567", "DF")),
        ("", "", ("", "")),
        (None, None, ("", "")),
    ],
)
def test_valid_oab(number, uf, expected):
    assert brazil.clean_oab(number, uf) == expected


@pytest.mark.parametrize(
    "number, uf, field, message",
    [
        ("123456", "", "oab_uf", "Give the OAB's state (UF) with its number."),
        ("", "SP", "oab_number", "Give the OAB number with its state."),
        ("123456", "XX", "oab_uf", "'XX' is not a Brazilian state (UF)."),
        ("12345678", "SP", "oab_number", "An OAB number has at most 7 digits."),
    ],
)
def test_invalid_oab(number, uf, field, message):
    with pytest.raises(ValidationError) as caught:
        brazil.clean_oab(number, uf)
    assert caught.value.message_dict[field] == [message]


# --- tribunals ------------------------------------------------------------------------------------


def test_the_tribunal_list():
    assert {"TJSP", "TJDFT", "TRE-SP", "TRT2", "TRT24", "TRF6", "STJ", "STF", "TST", "TJMSP"} <= brazil.TRIBUNALS
    assert "TJDF" not in brazil.TRIBUNALS  # the Federal District's court is TJDFT
    assert len(brazil.UFS) == 27 and len([name for name in brazil.TRIBUNALS if name.startswith("TRE-")]) == 27


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("tjsp, TRT2 ;TRF3", ["TJSP", "TRT2", "TRF3"]),
        ("tre-sp|tjdft", ["TRE-SP", "TJDFT"]),
        ("TJSP TJSP tjsp", ["TJSP"]),
        (["trt2", " STJ "], ["TRT2", "STJ"]),
        ("", []),
        (None, []),
    ],
)
def test_valid_tribunals(typed, expected):
    assert brazil.clean_tribunals(typed) == expected


@pytest.mark.parametrize("typed", ["TJXX", "TJSP, TRT25", "TRESP", "TJDF", "TRE-XX"])
def test_unknown_tribunals(typed):
    with pytest.raises(ValidationError, match="Unknown tribunal acronym"):
        brazil.clean_tribunals(typed)


def test_extra_tribunals_come_from_the_settings(settings):
    settings.VIGIA_EXTRA_TRIBUNALS = ["tjnew"]
    assert brazil.clean_tribunals("TJNEW, TJSP") == ["TJNEW", "TJSP"]


# --- PersonForm -----------------------------------------------------------------------------------


def person_data(**overrides):
    data = {
        "name": "Maria Souza",
        "document": "",
        "oab_number": "",
        "oab_uf": "",
        "tribunals": "",
        "match_in_text": False,
        "recipients": "",
        "active": True,
        "monitor_until": "",
        "check_interval_minutes": 30,
        "notes": "",
    }
    return {**data, **overrides}


def bound(instance=None, **overrides):
    form = PersonForm(person_data(**overrides), instance=instance)
    form.is_valid()
    return form


def test_a_valid_form_cleans_every_field(db):
    form = bound(
        name="  Maria   Souza ",
        document="529.982.247-25",
        oab_number="012345",
        oab_uf="sp",
        tribunals="tjsp, trt2",
        recipients="+55 (11) 98765-4321; 120363025246125486@g.us\nMaria@Example.COM, 5511987654321",
    )

    assert form.is_valid(), form.errors
    data = form.cleaned_data
    assert (data["name"], data["document"], data["oab_number"], data["oab_uf"]) == (
        "Maria Souza",
        "52998224725",
        "12345",
        "SP",
    )
    assert data["tribunals"] == "TJSP,TRT2"
    # phone digits with country code, the group JID as typed, the e-mail lower-cased; duplicates dropped
    assert data["recipients"] == ["5511987654321", "120363025246125486@g.us", "maria@example.com"]


def test_invalid_recipients_are_all_reported(db):
    form = bound(recipients="5511987654321, 12345, not@mail, 55 11 9876 5432 1234 56")

    assert form.errors["recipients"] == [
        "'12345' is not a phone number with country code. Include the country code, e.g. +55 11 91234-5678.",
        "'not@mail' is not a valid e-mail address or group JID (…@g.us).",
        "'55 11 9876 5432 1234 56' is not a valid Brazilian number: check the area code (DDD) and the digits; a "
        "mobile has 9 digits after the area code, starting with 9 (e.g. +55 11 91234-5678).",
    ]


@pytest.mark.parametrize(
    "name, valid",
    [("Jo", False), ("J. O.", False), ("123 45", False), ("Ána", True), ("Li Bo", True), ("   ", False)],
)
def test_a_name_needs_three_letters(db, name, valid):
    assert ("name" not in bound(name=name).errors) is valid


@pytest.mark.parametrize("typed", ["2099-03-04", "04/03/2099"])
def test_monitor_until_accepts_both_date_formats(db, typed):
    form = bound(monitor_until=typed)

    assert form.is_valid(), form.errors
    assert form.cleaned_data["monitor_until"].isoformat() == "2099-03-04"


def test_monitor_until_in_the_past_is_refused_for_a_new_person(db):
    yesterday = timezone.localdate() - timedelta(days=1)

    assert bound(monitor_until=yesterday.isoformat()).errors["monitor_until"] == ["This day has passed."]
    assert bound(monitor_until=timezone.localdate().isoformat()).is_valid()


def test_an_edit_may_keep_a_past_monitor_until(db):
    past = timezone.localdate() - timedelta(days=10)
    person = MonitoredPerson.objects.create(name="Maria Souza", monitor_until=past)

    assert bound(person, monitor_until=past.isoformat(), notes="still here").is_valid()
    assert "monitor_until" in bound(person, monitor_until=(past - timedelta(days=1)).isoformat()).errors


def test_duplicates_are_found_by_normalized_name_and_document(db):
    existing = MonitoredPerson.objects.create(name="MARIA SOUZA", document="52998224725")

    twin = bound(name="maria  souza", document="529.982.247-25")
    assert twin.errors["name"] == [f"Already monitored: MARIA SOUZA (#{existing.pk})."]
    assert bound(name="Maria Souza", document="").is_valid()  # same name, another document
    assert bound(name="Maria Souza Lima", document="52998224725").is_valid()


def test_editing_a_person_does_not_flag_itself_as_duplicate(db):
    person = MonitoredPerson.objects.create(name="Maria Souza", document="52998224725")

    form = bound(person, name="MARIA SOUZA", document="529.982.247-25", notes="edited")

    assert form.is_valid(), form.errors


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"oab_number": "123"}, "oab_uf"),
        ({"oab_uf": "SP"}, "oab_number"),
        ({"tribunals": "TJSP,TJZZ"}, "tribunals"),
        ({"document": "111.111.111-11"}, "document"),
        ({"check_interval_minutes": 4}, "check_interval_minutes"),
        ({"check_interval_minutes": 10081}, "check_interval_minutes"),
    ],
)
def test_the_form_reports_each_invalid_field(db, overrides, field):
    assert field in bound(**overrides).errors
