"""Importing and exporting monitored people as CSV (scrapers.people.csv_io, import_people, export_people)."""

import codecs
from datetime import date

import pytest
from django_q.models import OrmQ
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.models import Channel, Subscription
from scheduler.models import Run
from scrapers.models import MonitoredPerson
from scrapers.people import csv_io as people_csv
from scrapers.people import services as people
from scrapers.people.services import FIELDS, PersonForm
from tests.support.commands import call, call_failing

pytestmark = pytest.mark.django_db

HEADER = "name,cpf_cnpj,oab,uf,tribunals,monitor_until,recipients,notes,active"
CPF = "529.982.247-25"  # valid check digits
CNPJ = "11.222.333/0001-81"


def cpf(base):
    """A valid CPF from nine digits."""
    digits = [int(d) for d in f"{base:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1), strict=True))
        digits.append(total * 10 % 11 % 10)
    return "".join(map(str, digits))


def write(tmp_path, text, encoding="utf-8", name="people.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def values(person):
    return {name: getattr(person, name) for name in FIELDS}


def everyone():
    return {person.name: values(person) for person in MonitoredPerson.objects.all()}


def add_person(**data):
    form = PersonForm(data={"check_interval_minutes": 30, "active": True, **data})
    assert form.is_valid(), form.errors
    return form.save()


# --- reading files ------------------------------------------------------------------------------


def test_a_messy_utf8_file_with_bom_is_cleaned_and_each_new_person_gets_a_first_check(tmp_path):
    text = (
        "\ufeff Nome , CPF/CNPJ,OAB , uf,TRIBUNAIS, Monitorar até ,Destinatários,Observações\r\n"
        f'  Maria  da   Conceição , {CPF} ,, , "tjsp; trt2 | TJSP" ,31/12/2099,'
        '"+55 (11) 98765-4321 | Escritorio@Example.com","Cliente desde 2020\nligar antes"\r\n'
        "\r\n"  # a blank line is skipped but keeps its number
        f"Construtora Ômega Ltda,{CNPJ},012345,sp,,2099-01-31,120363025246125486@g.us,\r\n"
    )

    out, err = call("import_people", write(tmp_path, text))

    assert err == ""
    assert out.strip() == "created 2, updated 0, unchanged 0, rejected 0 (of 2 row(s))"
    maria = MonitoredPerson.objects.get(name="Maria da Conceição")
    assert (maria.document, maria.tribunals, maria.monitor_until) == ("52998224725", "TJSP,TRT2", date(2099, 12, 31))
    assert maria.recipients == ["5511987654321", "escritorio@example.com"]
    assert maria.notes == "Cliente desde 2020\nligar antes" and maria.normalized_name == "maria da conceicao"
    company = MonitoredPerson.objects.get(document="11222333000181")
    assert company.name == "Construtora Ômega Ltda"
    assert (company.oab_number, company.oab_uf, company.tribunals) == ("12345", "SP", "")
    assert company.recipients == ["120363025246125486@g.us"]
    # Each new person's first check is queued at once, ahead of the routine cycle.
    for person in (maria, company):
        assert Run.objects.filter(job=person.job, status=Run.Status.QUEUED).count() == 1
    assert list(OrmQ.objects.values_list("key", flat=True)) == ["high", "high"]


def test_an_excel_brazil_file_semicolons_and_windows_1252_keeps_the_accents(tmp_path):
    text = (
        "Nome;CPF/CNPJ;OAB;UF;Tribunais;Monitorar até;Destinatários;Observações\r\n"
        f"José Conceição;{CPF};;;TJSP,TRF3;20/11/2099;5511987654321;Audiência às 14h\r\n"
        "Conceição Araújo;;;;;;;\r\n"
    )
    path = write(tmp_path, text, encoding="cp1252")
    assert "ç".encode("cp1252") in (tmp_path / "people.csv").read_bytes()  # really not UTF-8

    out, err = call("import_people", path)

    assert err == "" and out.startswith("created 2,")
    jose = MonitoredPerson.objects.get(normalized_name="jose conceicao")
    assert (jose.name, jose.tribunals, jose.notes) == ("José Conceição", "TJSP,TRF3", "Audiência às 14h")
    assert jose.monitor_until == date(2099, 11, 20)
    assert MonitoredPerson.objects.filter(name="Conceição Araújo", document="").exists()


@pytest.mark.parametrize("separator", ["\t", ";", ","])
@pytest.mark.parametrize("newline", ["\r\n", "\r"])  # a lone \r: old Mac Excel
def test_the_separator_is_detected_from_the_header(tmp_path, separator, newline):
    rows = [["nome", "tribunais", "observacoes"], ["José da Silva", "TJSP TRT2", "a, b; c"], ["Ana Souza", "", ""]]
    quote = '"{}"'.format if separator != "\t" else str  # a cell holding the separator is quoted
    text = newline.join(separator.join(quote(cell) for cell in row) for row in rows)

    out, err = call("import_people", write(tmp_path, text))

    assert err == "" and out.startswith("created 2,")
    jose = MonitoredPerson.objects.get(name="José da Silva")
    assert (jose.tribunals, jose.notes) == ("TJSP,TRT2", "a, b; c")


def test_a_file_with_a_bom_that_is_not_utf8_is_refused(tmp_path):
    path = write(tmp_path, "\ufeffname\nJosé\n", encoding="utf-8")
    (tmp_path / "people.csv").write_bytes((tmp_path / "people.csv").read_bytes().replace("é".encode(), b"\xe9"))
    error, _, _ = call_failing("import_people", path)
    assert error == "The file starts as UTF-8 (a BOM) but its line 2 is not UTF-8: save it again."


def test_standard_input_is_read_with_a_dash():
    out, _ = call("import_people", "-", stdin="name\nJosé da Silva\n")
    assert out.strip() == "created 1, updated 0, unchanged 0, rejected 0 (of 1 row(s))"
    assert MonitoredPerson.objects.get().name == "José da Silva"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("name,cpf,email,phone", "Unknown column(s): email, phone. Expected: " + HEADER.replace(",", ", ")),
        ("cpf_cnpj;oab;uf", "No 'name' column. Expected: " + HEADER.replace(",", ", ")),
        ("nome,name", "Column(s) given twice: name."),
        ("", "The file is empty"),
    ],
)
def test_a_file_that_cannot_be_used_is_refused_as_a_whole(tmp_path, header, message):
    path = write(tmp_path, f"{header}\nJosé da Silva,{CPF},x,y\n" if header else "")

    error, _, _ = call_failing("import_people", path)

    assert error.startswith(message)
    assert not MonitoredPerson.objects.exists()


def test_a_workbook_saved_as_xlsx_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "people.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)))
    error, _, _ = call_failing("import_people", str(path))
    assert error == "This is a spreadsheet workbook (.xlsx/.xls), not CSV: save it as CSV first."


def test_a_missing_file_is_a_command_error(tmp_path):
    error, _, _ = call_failing("import_people", str(tmp_path / "nope.csv"))
    assert error.startswith(f"Cannot read {tmp_path / 'nope.csv'}: ")


# --- bad rows -----------------------------------------------------------------------------------


def test_bad_rows_are_reported_with_their_line_and_column_and_the_good_ones_imported(tmp_path):
    text = "\n".join(
        [
            "Nome,CPF/CNPJ,OAB,UF,Tribunais,Monitorar até,Destinatários",
            f"José da Silva,{CPF},,,TJSP,,",  # 2: good
            ",,,,,,",  # 3: blank, skipped
            f" ,{cpf(1)},,,,,",  # 4: no name
            "Ana Souza,123.456.789-00,,,,,",  # 5: check digits wrong
            "Beatriz Lima,,123456,,,,",  # 6: OAB without UF
            "Carlos Reis,,,,TJSP TJXX,,",  # 7: unknown tribunal
            "Daniela Melo,,,,,2099-31-12,",  # 8: not a date in either format
            f"JOSE DA SILVA,{CPF.replace('.', '')},,,,,",  # 9: line 2 again
            "Eduardo Pires,,,,,,5511987654321;not-a-phone",  # 10: bad recipient
            "Fábio Nunes,,,,,,,extra",  # 11: a value beyond the header
            f"Gabriela Dias,{cpf(2)},,,STJ,31/12/2099,",  # 12: good
        ]
    )

    out, err = call("import_people", write(tmp_path, text))

    assert err.splitlines() == [
        "line 4, column 'Nome': This field is required.",
        "line 5, column 'CPF/CNPJ': Invalid CPF: the check digits do not match.",
        "line 6, column 'UF': Give the OAB's state (UF) with its number.",
        "line 7, column 'Tribunais': Unknown tribunal acronym(s): TJXX. Use DJEN's acronyms, e.g. TJSP, TRT2, "
        "TRF3, STJ.",
        "line 8, column 'Monitorar até': Enter a valid date.",
        "line 9, column 'Nome': Duplicates line 2.",
        "line 10, column 'Destinatários': 'not-a-phone' is not a phone number: use digits, spaces and + - ( ) only, "
        "e.g. +55 11 91234-5678.",
        "line 11, whole row: A value in a column without a header.",
    ]
    assert out.strip() == "created 2, updated 0, unchanged 0, rejected 8 (of 10 row(s))"
    assert sorted(MonitoredPerson.objects.values_list("name", flat=True)) == ["Gabriela Dias", "José da Silva"]
    assert MonitoredPerson.objects.get(name="José da Silva").tribunals == "TJSP"  # line 9 changed nothing


def test_a_file_whose_every_row_is_rejected_fails_after_reporting_them(tmp_path):
    path = write(tmp_path, "name,cpf_cnpj\nJosé da Silva,111.111.111-11\nAb,\n")

    error, out, err = call_failing("import_people", path)

    assert error == "Every row was rejected; nothing was imported."
    assert err.splitlines() == [
        "line 2, column 'cpf_cnpj': Invalid CPF: the check digits do not match.",
        "line 3, column 'name': Give the person's or company's name (at least three letters).",
    ]
    assert out.strip() == "created 0, updated 0, unchanged 0, rejected 2 (of 2 row(s))"
    assert not MonitoredPerson.objects.exists()


def test_an_oab_without_a_uf_column_names_the_missing_column(tmp_path):
    _, _, err = call_failing("import_people", write(tmp_path, "name,oab\nBeatriz Lima,123456\n"))
    assert err.strip() == "line 2, column 'uf': Give the OAB's state (UF) with its number."


# --- updates, re-imports, dry runs ----------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing_and_queues_no_second_first_check(tmp_path):
    path = write(
        tmp_path,
        f"{HEADER}\n"
        f'José da Silva,{CPF},,,"TJSP,TRT2",2099-12-31,"5511987654321, a@example.com",nota\n'
        f"Construtora Ômega Ltda,{CNPJ},,,,,,\n"
        "Advogada Teste,,123456,SP,STJ,,,\n",
    )
    assert call("import_people", path)[0].strip() == "created 3, updated 0, unchanged 0, rejected 0 (of 3 row(s))"
    before = everyone()
    stamps = dict(MonitoredPerson.objects.values_list("name", "updated_at"))
    runs, queued = Run.objects.count(), OrmQ.objects.count()
    assert runs == queued == 3

    for _ in range(2):
        out, err = call("import_people", path)
        assert err == ""
        assert out.strip() == "created 0, updated 0, unchanged 3, rejected 0 (of 3 row(s))"

    assert everyone() == before
    assert dict(MonitoredPerson.objects.values_list("name", "updated_at")) == stamps
    assert (Run.objects.count(), OrmQ.objects.count()) == (runs, queued)


def test_a_row_naming_an_existing_person_updates_only_the_columns_the_file_has(tmp_path):
    person = add_person(
        name="José da Silva",
        document=CPF,
        tribunals="TJSP",
        recipients="5511987654321",
        notes="keep me",
        match_in_text=True,
        check_interval_minutes=60,
    )
    runs = Run.objects.count()
    # Matched on the normalized name and the CPF's digits, however they are written.
    path = write(tmp_path, f"nome;cpf;tribunais;destinatarios\njosé  da silva;{CPF.replace('.', '')};TRT2 TRF3;\n")

    out, err = call("import_people", path)

    assert err == "" and out.strip() == "created 0, updated 1, unchanged 0, rejected 0 (of 1 row(s))"
    person.refresh_from_db()
    assert MonitoredPerson.objects.count() == 1
    assert (person.name, person.tribunals, person.recipients) == ("josé da silva", "TRT2,TRF3", [])
    assert (person.notes, person.match_in_text, person.check_interval_minutes) == ("keep me", True, 60)
    assert Run.objects.count() == runs  # an update queues no first check


def test_without_a_document_column_the_name_alone_finds_the_person_unless_two_share_it(tmp_path):
    alone = add_person(name="Ana Souza", document=CPF, notes="old")
    add_person(name="Bruno Costa", document=cpf(1))
    add_person(name="Bruno Costa", document=cpf(2))

    out, err = call("import_people", write(tmp_path, "name,notes\nAna Souza,new\nBruno Costa,new\n"))

    assert err.strip() == (
        "line 3, column 'name': Several monitored people have this name: add a cpf_cnpj column to tell them apart."
    )
    assert out.strip() == "created 0, updated 1, unchanged 0, rejected 1 (of 2 row(s))"
    alone.refresh_from_db()
    assert (alone.notes, alone.document) == ("new", "52998224725")
    assert set(MonitoredPerson.objects.filter(name="Bruno Costa").values_list("notes", flat=True)) == {""}


def test_dry_run_reports_the_same_and_writes_nothing(tmp_path):
    existing = add_person(name="José da Silva", document=CPF, notes="old")
    snapshot, runs = everyone(), Run.objects.count()
    path = write(
        tmp_path,
        f"name,cpf_cnpj,notes\nJosé da Silva,{CPF},new\nMaria Souza,,\nMaria Souza,,\nZé,,\n",
    )

    out, err = call("import_people", path, "--dry-run")

    assert out.strip() == (
        "dry run (nothing saved): would have created 1, updated 1, unchanged 0, rejected 2 (of 4 row(s))"
    )
    assert everyone() == snapshot and Run.objects.count() == runs
    assert MonitoredPerson.objects.get().updated_at == existing.updated_at

    real_out, real_err = call("import_people", path)
    assert real_err == err and real_out.strip() == "created 1, updated 1, unchanged 0, rejected 2 (of 4 row(s))"


# --- export ---------------------------------------------------------------------------------------


def a_variety_of_people():
    add_person(
        name="José da Conceição",
        document=CPF,
        tribunals="TJSP, TRT2",
        recipients="5511987654321, escritorio@example.com",
        monitor_until="2099-12-31",
        notes='Linha 1; "aspas"\nLinha 2, com vírgula',
    )
    add_person(name="Construtora Ômega Ltda", document=CNPJ, recipients="120363025246125486@g.us")
    add_person(name="Advogada Teste", oab_number="123456", oab_uf="SP", tribunals="STJ")


def test_export_writes_utf8_with_bom_ordered_by_name_with_formatted_documents(tmp_path):
    a_variety_of_people()
    path = tmp_path / "people.csv"

    out, _ = call("export_people", "--output", str(path))

    assert out.strip() == f"exported 3 person(s) to {path}"
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[1] == "Advogada Teste,,123456,SP,STJ,,,,yes"
    assert lines[2] == "Construtora Ômega Ltda,11.222.333/0001-81,,,,,120363025246125486@g.us,,yes"
    assert lines[3] == (
        'José da Conceição,529.982.247-25,,,"TJSP, TRT2",2099-12-31,'
        '"5511987654321, escritorio@example.com","Linha 1; ""aspas""'  # the cell goes on: a line break
    )
    assert call("export_people")[0] == data.decode("utf-8-sig")  # stdout: the same text


def test_export_excel_dialect_is_semicolons_in_windows_1252(tmp_path):
    a_variety_of_people()
    path = tmp_path / "people.csv"

    call("export_people", "--output", str(path), "--excel")

    text = path.read_bytes().decode("cp1252")
    assert text.splitlines()[0] == HEADER.replace(",", ";")
    assert "Construtora Ômega Ltda;11.222.333/0001-81;;;;;120363025246125486@g.us;;yes" in text.splitlines()


def test_an_excel_export_refuses_names_windows_1252_cannot_write_naming_each_person(tmp_path):
    add_person(name="José da Silva")
    an = add_person(name="Nguyễn Văn An")
    li = add_person(name="Li Wei 李伟")

    error, _, _ = call_failing("export_people", "--output", str(tmp_path / "x.csv"), "--excel")

    assert error == (
        f"Windows-1252 cannot write the names or notes of Li Wei 李伟 (#{li.pk}: '李' (U+674E) '伟' (U+4F1F)); "
        f"Nguyễn Văn An (#{an.pk}: 'ễ' (U+1EC5) 'ă' (U+0103)): export without the Excel dialect."
    )
    assert not (tmp_path / "x.csv").exists()
    assert call("export_people", "--output", str(tmp_path / "x.csv"))[0].startswith("exported 3 person(s)")


@pytest.mark.parametrize("excel", [False, True])
def test_export_then_import_recreates_the_same_people_and_changes_nothing_when_they_exist(tmp_path, excel):
    a_variety_of_people()
    original = everyone()
    path = tmp_path / "people.csv"
    call("export_people", "--output", str(path), *(["--excel"] if excel else []))

    assert call("import_people", str(path))[0].strip() == "created 0, updated 0, unchanged 3, rejected 0 (of 3 row(s))"

    MonitoredPerson.objects.all().delete()
    out, err = call("import_people", str(path))

    assert err == "" and out.strip() == "created 3, updated 0, unchanged 0, rejected 0 (of 3 row(s))"
    assert everyone() == original


def test_deactivated_people_round_trip_inactive_with_their_past_expiry_and_no_check_queued(tmp_path):
    gone = add_person(name="Cliente Antigo da Silva", monitor_until="2099-01-01")
    MonitoredPerson.objects.filter(pk=gone.pk).update(active=False, monitor_until=date(2020, 1, 31))
    path = tmp_path / "people.csv"
    call("export_people", "--output", str(path))
    MonitoredPerson.objects.all().delete()
    Run.objects.all().delete()
    OrmQ.objects.all().delete()

    out, err = call("import_people", str(path))

    assert err == "" and "created 1" in out
    person = MonitoredPerson.objects.get()
    assert not person.active and person.monitor_until == date(2020, 1, 31)
    assert not Run.objects.exists() and not OrmQ.objects.exists()  # nobody checks an inactive person


def test_the_active_column_takes_yes_or_no_in_english_or_portuguese(tmp_path):
    path = write(tmp_path, "nome;ativo\nAna Paula Souza;não\nBruno Lima Souza;Sim\nCarla Dias Souza;talvez\n")

    out, err = call("import_people", path)

    assert "line 4, column 'ativo': Write yes or no (sim/não)." in err
    assert dict(MonitoredPerson.objects.values_list("name", "active")) == {
        "Ana Paula Souza": False,
        "Bruno Lima Souza": True,
    }


def test_cells_a_spreadsheet_would_run_as_formulas_are_defused_on_export_and_restored_on_import(tmp_path):
    add_person(name="Maria Fórmula da Silva", notes='=HYPERLINK("http://evil.example","clique")')
    path = tmp_path / "people.csv"
    call("export_people", "--output", str(path))
    assert "'=HYPERLINK" in path.read_bytes().decode("utf-8-sig")  # shown as text, never evaluated
    MonitoredPerson.objects.all().delete()

    call("import_people", str(path))

    assert MonitoredPerson.objects.get().notes == '=HYPERLINK("http://evil.example","clique")'


# --- large files ----------------------------------------------------------------------------------


def test_a_thousand_rows_import_with_a_progress_bar(tmp_path):
    rows = [f"Pessoa Número {n:04d},{cpf(1000 + n)},,,TJSP,," for n in range(1000)]
    path = write(tmp_path, "name,cpf_cnpj,oab,uf,tribunals,monitor_until,recipients\n" + "\n".join(rows))

    out, err = call("import_people", path)

    assert out.strip() == "created 1000, updated 0, unchanged 0, rejected 0 (of 1000 row(s))"
    assert MonitoredPerson.objects.count() == 1000 and Run.objects.count() == 1000
    assert "] 500/1000 rows" in err and err.endswith("] 1000/1000 rows\n")

    out, err = call("import_people", path, "--dry-run", verbosity=0)  # quiet: no bar
    assert err == ""
    assert out.strip().endswith("would have created 0, updated 0, unchanged 1000, rejected 0 (of 1000 row(s))")


def test_small_files_draw_no_progress_bar(tmp_path):
    _, err = call("import_people", write(tmp_path, "name\nJosé da Silva\n"))
    assert err == ""


# --- hostile files: quotes, UTF-16, invisible characters --------------------------------------------


def test_a_quote_never_closed_is_refused_naming_its_line_and_nothing_is_imported(tmp_path):
    # Read loosely, line 3's quote swallowed lines 4-6 into one cell: "2 rows", and Bruno and Carla lost.
    text = f'name,cpf_cnpj,notes\nAna Souza,,ok\nBruno Lima,{CPF},"ligar antes\nCarla Dias,,x\nDaniel Reis,,y\n'

    error, _, _ = call_failing("import_people", write(tmp_path, text))

    assert error == (
        "Line 3 opens a quoted cell that is never closed, so the rest of the file would be read into that one "
        'cell: nothing was imported. Close its quote (a quote inside a cell is written twice: "").'
    )
    assert not MonitoredPerson.objects.exists()


def test_text_after_a_closing_quote_is_refused_naming_both_lines(tmp_path):
    # The quote opened on line 2 is closed by line 3's first quote: rows 2 and 3 would merge into one.
    text = 'name;notes\nAna Souza;"ligar antes\nBruno Lima;"ver" processo\nCarla Dias;x\n'

    error, _, _ = call_failing("import_people", write(tmp_path, text))

    assert error.startswith("Line 3: text follows the closing quote of a cell opened on line 2, so rows would merge")
    assert not MonitoredPerson.objects.exists()


def test_quotes_a_reader_takes_as_written_are_still_accepted(tmp_path):
    text = (
        "name,notes,tribunals\n"
        'José "Zé" Silva,disse ""oi"",TJSP\n'  # quotes inside an unquoted cell are text
        'Ana Souza , "linha 1\nlinha 2, com ""aspas""" , "TJSP, TRT2" \n'  # spaces around quoted cells
    )

    out, err = call("import_people", write(tmp_path, text))

    assert err == "" and out.startswith("created 2,")
    assert MonitoredPerson.objects.get(name='José "Zé" Silva').notes == 'disse ""oi""'
    ana = MonitoredPerson.objects.get(name="Ana Souza")
    assert (ana.notes, ana.tribunals) == ('linha 1\nlinha 2, com "aspas"', "TJSP,TRT2")


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-16"),  # Excel's "Unicode text": a BOM, little-endian
        lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
        lambda text: codecs.BOM_UTF32_LE + text.encode("utf-32-le"),
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    ],
    ids=["utf-16-le", "utf-16-be", "utf-32-le", "utf-8-bom"],
)
def test_a_unicode_file_with_a_bom_is_decoded_whatever_its_encoding(tmp_path, encode):
    text = f"Nome\tCPF/CNPJ\tObservações\r\nJosé Conceição\t{CPF}\tAudiência às 14h\r\nNguyễn Văn An\t\t李\r\n"
    (tmp_path / "people.txt").write_bytes(encode(text))

    out, err = call("import_people", str(tmp_path / "people.txt"))

    assert err == "" and out.startswith("created 2,")
    assert MonitoredPerson.objects.get(document="52998224725").notes == "Audiência às 14h"
    assert MonitoredPerson.objects.get(name="Nguyễn Văn An").notes == "李"


def test_a_utf16_file_broken_midway_is_refused_naming_the_line(tmp_path):
    data = "name\nJosé\nAna Souza\n".encode("utf-16") + b"\x00\xd8"  # a lone surrogate on line 4
    (tmp_path / "people.txt").write_bytes(data)

    error, _, _ = call_failing("import_people", str(tmp_path / "people.txt"))

    assert error == "The file starts as UTF-16 (a BOM) but its line 4 is not UTF-16: save it again."


def test_a_utf16_file_without_its_bom_is_refused_with_a_hint(tmp_path):
    (tmp_path / "people.txt").write_bytes("name\nJosé da Silva\n".encode("utf-16-le"))
    error, _, _ = call_failing("import_people", str(tmp_path / "people.txt"))
    assert error == "The header holds NUL characters: a UTF-16 file without its BOM? Save it as CSV UTF-8."


def test_an_excel_export_leaves_invisible_characters_out_and_exports_everyone(tmp_path):
    # Written before PersonForm dropped them: a zero-width space pasted in a name, a direction mark in notes.
    MonitoredPerson.objects.create(name="Jo\u200bsé da Silva", notes="ver\u200e processo")
    MonitoredPerson.objects.create(name="Ana Souza", notes='\u200b=HYPERLINK("http://evil.example")')
    MonitoredPerson.objects.create(name="Bruno Lima")
    path = tmp_path / "people.csv"

    out, _ = call("export_people", "--output", str(path), "--excel")

    assert out.strip() == f"exported 3 person(s) to {path}"
    lines = path.read_bytes().decode("cp1252").splitlines()
    assert lines[1:] == [
        'Ana Souza;;;;;;;"\'=HYPERLINK(""http://evil.example"")";yes',  # still defused once visible
        "Bruno Lima;;;;;;;;yes",
        "José da Silva;;;;;;;ver processo;yes",
    ]
    # The file imports back onto the same people: invisible characters are not part of a name's identity.
    assert call("import_people", str(path))[0].strip() == "created 0, updated 2, unchanged 1, rejected 0 (of 3 row(s))"
    assert MonitoredPerson.objects.count() == 3


def test_the_import_drops_invisible_characters_from_names(tmp_path):
    call("import_people", write(tmp_path, f"name,cpf_cnpj\n\u200bJo\u200bsé da Silva\u200f,{CPF}\n"))
    assert MonitoredPerson.objects.get().name == "José da Silva"


# --- CPF/CNPJ in files ----------------------------------------------------------------------------------


def test_alphanumeric_cnpjs_and_digits_of_other_scripts_import_and_reimport_unchanged(tmp_path):
    text = (
        "name,cpf_cnpj\n"
        "Empresa Nova Ltda,12.abc.345/01de-35\n"
        "Maria Souza,٥٢٩.٩٨٢.٢٤٧-٢٥\n"  # Arabic-Indic digits
        "Empresa Errada Ltda,12.ABC.345/01DE-36\n"
    )
    out, err = call("import_people", write(tmp_path, text))

    assert err.strip() == "line 4, column 'cpf_cnpj': Invalid CNPJ: the check digits do not match."
    assert dict(MonitoredPerson.objects.values_list("name", "document")) == {
        "Empresa Nova Ltda": "12ABC34501DE35",
        "Maria Souza": "52998224725",
    }
    path = tmp_path / "again.csv"
    call("export_people", "--output", str(path))
    assert "Empresa Nova Ltda,12.ABC.345/01DE-35," in path.read_bytes().decode("utf-8-sig")
    # The same people however their documents are written: nothing changes, nobody is added.
    assert call("import_people", str(path))[0].strip() == "created 0, updated 0, unchanged 2, rejected 0 (of 2 row(s))"
    out, err = call("import_people", write(tmp_path, "name,cpf_cnpj\nEMPRESA NOVA LTDA,12ABC34501DE35\n"))
    assert out.strip() == "created 0, updated 1, unchanged 0, rejected 0 (of 1 row(s))"
    assert MonitoredPerson.objects.count() == 2


# --- the import at scale: the same checks, in batches ------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    row=st.fixed_dictionaries(
        {
            name: st.one_of(
                st.sampled_from(samples),
                st.text(max_size=30),
                st.text(alphabet="0123456789.-/ abcABC٥١２\u200b", max_size=20),
            )
            for name, samples in {
                "name": ["José da Silva", "Jo", "  ", "A" * 201, "Ana\x00Souza", "Jo\u200bsé Lima"],
                "document": [CPF, "12.abc.345/01de-35", "111.111.111-11", "١٢٣", "x" * 30],
                "oab_number": ["123456", "12345678", "", "０１２"],
                "oab_uf": ["SP", "sp", "XX", "", "SPX"],
                "tribunals": ["TJSP, TRT2", "TJXX", "", "TJSP " * 120],
                "recipients": ["5511987654321", "a@b", "x@g.us", "5511987654321; e@example.com"],
                "monitor_until": ["2099-12-31", "31/12/2099", "2000-01-01", "9999-12-31", "2099-02-30", "x"],
                "check_interval_minutes": ["30", "4", "10081", "-1", "1e3", "99999999999999999999", "٣٠"],
                "notes": ["", "x" * 5000, "=1+1", "\ud800"],
                "active": ["on", "", "false", "0"],
                "match_in_text": ["on", ""],
            }.items()
        }
    ),
    existing=st.booleans(),
)
def test_validate_person_agrees_with_person_form_on_hostile_rows(row, existing):
    """The import validates with people.validate_person instead of a PersonForm per row: the same errors,
    the same cleaned values, for anything a spreadsheet may hold."""
    person = MonitoredPerson.objects.first() if existing else None
    if existing and person is None:
        person = MonitoredPerson.objects.create(
            name="Alguém Existente", document="52998224725", monitor_until=date(2020, 1, 1)
        )

    form = PersonForm(data=row, instance=person)
    form_valid = form.is_valid()
    cleaned, errors = people.validate_person(row, person or MonitoredPerson())

    assert errors == {name: list(messages) for name, messages in form.errors.items()}
    assert not errors == form_valid
    if form_valid:
        assert cleaned == {name: form.cleaned_data[name] for name in cleaned}


def test_rows_are_checked_one_by_one_but_written_in_batches(tmp_path, django_assert_max_num_queries):
    rows = [f"Pessoa Número {n:04d},{cpf(2000 + n)},TJSP,5511987{n:06d}" for n in range(1200)]
    path = write(tmp_path, "name,cpf_cnpj,tribunals,recipients\n" + "\n".join(rows))
    Channel.objects.create(name="whatsapp", kind="wuzapi")

    with django_assert_max_num_queries(80):  # a save per row took ~15 queries each: 18,000
        out, err = call("import_people", path, verbosity=0)

    assert err == "" and out.strip() == "created 1200, updated 0, unchanged 0, rejected 0 (of 1200 row(s))"
    person = MonitoredPerson.objects.select_related("job").get(document=cpf(2000 + 777))
    assert person.job.params == {"person_id": person.pk} and person.job.enabled
    assert person.normalized_name == "pessoa numero 0777" and person.next_check_at is not None
    assert Subscription.objects.get(topic=person.topic).recipient.address == "5511987000777"
    assert Run.objects.get(job=person.job).status == Run.Status.QUEUED
    assert OrmQ.objects.filter(key="high").count() == 1200


def test_progress_is_told_every_n_rows_and_at_the_end():
    calls = []
    rows = "\n".join(f"Pessoa Número {n:04d}" for n in range(1, 251))

    people_csv.import_people(f"name\n{rows}\n", progress=lambda done, total: calls.append((done, total)), every=100)

    assert calls == [(100, 250), (200, 250), (250, 250)]


def test_someone_saved_meanwhile_refuses_only_that_row(tmp_path):
    text = f"name,cpf_cnpj\nAna Souza,{cpf(1)}\nBruno Lima,{cpf(2)}\nCarla Dias,{cpf(3)}\n"

    def meanwhile(done, total):  # after the batch looked its people up, before it is written
        if done == 1:
            add_person(name="BRUNO LIMA", document=cpf(2))

    report = people_csv.import_people(text, progress=meanwhile, every=1)

    assert [str(problem) for problem in report.problems] == [
        "line 3, column 'name': Already monitored (saved meanwhile)."
    ]
    assert (report.created, report.rejected) == (2, 1)
    assert sorted(MonitoredPerson.objects.values_list("name", flat=True)) == ["Ana Souza", "BRUNO LIMA", "Carla Dias"]
    assert Run.objects.count() == 3  # each person's first check once: Ana's and Carla's, and Bruno's own
