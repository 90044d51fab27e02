"""Imports of files as people really send them: exact counts, an error report, nothing half-written."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from leadflow.models import AuditEvent
from leads.lifecycle import Stage
from leads.models import Lead, StageChange
from privacy import imports
from privacy.importing import ImportFileError, parse_date
from privacy.imports import ImportTooLargeError, ensure_size
from privacy.models import DedupePolicy, ImportJob, ImportRowError
from privacy.selectors import error_report_rows
from tests.leads.factories import LeadFactory

BAD_ROWS = {
    # row number in the file (header = 1) -> (column named in the report, cells)
    12: ("E-Mail", "not-an-email"),
    22: ("Country", "Germany"),
    32: ("Seniority", "intern-ish"),
    42: ("Signed up", "31/02/2024"),
    52: ("Employees", "lots"),
    62: ("E-Mail", ""),  # no e-mail and no external id
    72: ("E-Mail", "two@@example.com"),
    82: ("Signed up", "9999999"),  # not an Excel date
    92: ("Country", "D"),
    101: ("Employees", "-5"),
}


def messy_file(rows: int = 100, *, bom: bool = True, delimiter: str = ";") -> bytes:
    """An Excel-for-Windows style export: BOM, semicolons, CRLF, quoted newlines, serial dates."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(
        [
            "E-Mail",
            "First Name",
            "Last Name",
            "Company",
            "Country",
            "Seniority",
            "Employees",
            "Signed up",
            "Notes",
        ]
    )
    for n in range(rows):
        row = n + 2
        email = f"Person.{n}@Example-{n % 5}.COM" if n % 2 else f"person.{n}@example-{n % 5}.com"
        cells = [
            email,
            f"Ädá{n}",
            f"Müller-{n}",
            f"ACME {n % 5}",
            "de",
            "Director",
            "250",
            "45292" if n % 3 == 0 else "2024-01-15",
            f'line one\nline two; with "quotes" {n}',
        ]
        if row in BAD_ROWS:
            column, value = BAD_ROWS[row]
            index = [
                "E-Mail",
                "First Name",
                "Last Name",
                "Company",
                "Country",
                "Seniority",
                "Employees",
                "Signed up",
            ].index(column)
            cells[index] = value
        writer.writerow(cells)
    data = out.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


MAPPING = {
    "E-Mail": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Company": "company",
    "Country": "country",
    "Seniority": "seniority",
    "Employees": "employees",
    "Signed up": "created_at",
    "Notes": "trait:notes",
}


@pytest.mark.django_db
def test_messy_file_exact_counts_and_error_report(run_import):
    job = run_import(messy_file(), mapping=MAPPING)
    assert job.status == ImportJob.Status.DONE, job.error
    assert job.summary == {"rows": 100, "created": 90, "updated": 0, "skipped": 0, "failed": 10}
    assert (job.encoding, job.delimiter) == ("utf-8-sig", ";")
    report = list(error_report_rows(job=job))
    assert [(r[0], r[1]) for r in report] == [(row, col) for row, (col, _) in BAD_ROWS.items()]
    assert all(r[4] == "failed" for r in report)
    assert all(r[3] for r in report)
    # every good row is there, e-mails normalised, fields converted
    assert Lead.objects.count() == 90
    lead = Lead.objects.get(email="person.1@example-1.com")  # was Person.1@Example-1.COM
    assert (lead.first_name, lead.last_name) == ("Ädá1", "Müller-1")
    assert (lead.country, lead.seniority, lead.company_size) == ("DE", "director", "201-1000")
    assert lead.traits["notes"] == 'line one\nline two; with "quotes" 1'
    assert lead.domain == "example-1.com"
    assert lead.stage == Stage.SUSPECT
    assert lead.rescore_marks.exists()  # scoring will pick it up
    excel = Lead.objects.get(email="person.0@example-0.com")
    assert excel.stage_changed_at == datetime(2024, 1, 1, tzinfo=UTC)  # Excel serial 45292
    # every created lead has its creation in the stage log, from the import
    assert StageChange.objects.filter(source=StageChange.Source.IMPORT).count() == 90
    # nothing of a bad row was written
    assert not Lead.objects.filter(first_name__in=["Ädá10", "Ädá20", "Ädá60"]).exists()
    assert AuditEvent.objects.filter(action="import.run", target_id=str(job.pk)).exists()
    assert not job.file  # the uploaded file (personal data) is deleted once done


@pytest.mark.django_db
def test_rerunning_the_same_file_changes_nothing(run_import):
    first = run_import(messy_file(), mapping=MAPPING, policy=DedupePolicy.OVERWRITE)
    assert first.created == 90
    before = list(Lead.objects.order_by("pk").values())
    again = run_import(messy_file(), mapping=MAPPING, policy=DedupePolicy.OVERWRITE)
    assert again.summary == {"rows": 100, "created": 0, "updated": 0, "skipped": 90, "failed": 10}
    after = list(Lead.objects.order_by("pk").values())
    strip = [{k: v for k, v in row.items() if k != "last_import_id"} for row in before]
    assert strip == [{k: v for k, v in row.items() if k != "last_import_id"} for row in after]
    assert StageChange.objects.count() == 90


@pytest.mark.django_db
def test_policies_skip_fill_overwrite(run_import):
    lead = LeadFactory(email="ada@example.com", first_name="Ada", company="", country="GB")
    data = b"email,first_name,company,country\nADA@example.com,Augusta,Analytical,FR\n"
    assert run_import(data, policy=DedupePolicy.SKIP).skipped == 1
    lead.refresh_from_db()
    assert (lead.first_name, lead.company, lead.country) == ("Ada", "", "GB")
    assert run_import(data, policy=DedupePolicy.FILL).updated == 1
    lead.refresh_from_db()
    assert (lead.first_name, lead.company, lead.country) == ("Ada", "Analytical", "GB")
    assert run_import(data, policy=DedupePolicy.OVERWRITE).updated == 1
    lead.refresh_from_db()
    assert (lead.first_name, lead.company, lead.country) == ("Augusta", "Analytical", "FR")
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_duplicate_rows_in_one_file_first_wins_across_batches(run_import, settings):
    settings.PRIVACY_IMPORT_BATCH_SIZE = 2  # the duplicate lands in another batch
    data = (
        b"email,external_id,first_name\n"
        b"a@x.example,,One\nb@x.example,,Two\nc@x.example,,Three\nA@X.example,,Again\n"
        b",crm-9,Nine\n,crm-9,Nine again\n"
    )
    job = run_import(data, policy=DedupePolicy.OVERWRITE)
    assert job.summary == {"rows": 6, "created": 4, "updated": 0, "skipped": 2, "failed": 0}
    assert Lead.objects.get(email="a@x.example").first_name == "One"
    assert Lead.objects.get(external_id="crm-9").first_name == "Nine"
    assert [r[0] for r in error_report_rows(job=job)] == [5, 7]


@pytest.mark.django_db
def test_external_id_match_and_conflicting_matches(run_import):
    LeadFactory(email="one@x.example", external_id="crm-1")
    LeadFactory(email="two@x.example", external_id="crm-2")
    data = b"Email,External ID,Job Title\n,crm-1,CTO\none@x.example,crm-2,CEO\n"
    job = run_import(data, policy=DedupePolicy.OVERWRITE)
    assert job.summary == {"rows": 2, "created": 0, "updated": 1, "skipped": 0, "failed": 1}
    assert Lead.objects.get(external_id="crm-1").job_title == "CTO"
    assert "merge them first" in ImportRowError.objects.get(job=job).message


@pytest.mark.django_db
def test_windows_1252_comma_and_tab_files(run_import):
    cp1252 = "email,first_name\nrene@x.example,René\n".encode("cp1252")
    job = run_import(cp1252)
    assert job.encoding == "cp1252"
    assert Lead.objects.get().first_name == "René"
    tabbed = "email\tfirst_name\nzoe@x.example\tZoë\n".encode("utf-16")
    job = run_import(tabbed)
    assert (job.encoding, job.delimiter, job.created) == ("utf-16", "\t", 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "options", "field", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00", {}, "file", "not a CSV file"),
        (b"\x00\x01\x02binary\x00" * 50, {}, "file", "binary"),
        (b"", {}, "file", "empty"),
        (b"name,company\nAda,ACME\n", {}, "mapping", "no e-mail or external id column"),
        (b"email\na@x.example\n", {"encoding": "klingon-8"}, "encoding", "Unknown encoding"),
        (b"email\na@x.example\n", {"mapping": {"Mail": "email"}}, "mapping", "does not have"),
        (b"email\na@x.example\n", {"mapping": {"email": "salary"}}, "mapping", "unknown field"),
    ],
)
def test_bad_files_are_refused_with_a_reason_and_nothing_written(
    run_import, data, options, field, message
):
    with pytest.raises(ImportFileError) as caught:
        run_import(data, **options)
    assert caught.value.field == field
    assert message in caught.value.message
    assert Lead.objects.count() == 0
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_undecodable_bytes_refused():
    from privacy.importing import detect

    with pytest.raises(ImportFileError, match="encoding"):
        detect(io.BytesIO(b"email\n\x81\x8d\x8f\x90\x9d@x.example\n"))


def test_size_limit(settings):
    settings.PRIVACY_IMPORT_MAX_BYTES = 10 * 1024 * 1024
    with pytest.raises(ImportTooLargeError, match="2,048 MB; the limit is 10 MB"):
        ensure_size(2 * 1024**3)


def test_dates():
    assert parse_date("45292", dayfirst=True) == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_date("03/04/2024", dayfirst=True) == datetime(2024, 4, 3, tzinfo=UTC)
    assert parse_date("03/04/2024", dayfirst=False) == datetime(2024, 3, 4, tzinfo=UTC)
    assert parse_date("2024-05-06T07:08:09Z", dayfirst=True).hour == 7
    with pytest.raises(ValueError, match="future"):
        parse_date("2999-01-01", dayfirst=True)


@pytest.mark.django_db
def test_dry_run_counts_but_writes_nothing(run_import):
    job = run_import(messy_file(), mapping=MAPPING, dry_run=True)
    assert job.summary == {"rows": 100, "created": 90, "updated": 0, "skipped": 0, "failed": 10}
    assert Lead.objects.count() == 0
    assert StageChange.objects.count() == 0
    assert ImportRowError.objects.filter(job=job).count() == 10  # the report is still there


@pytest.mark.django_db
def test_command_imports_and_writes_the_error_report(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(messy_file(30))
    errors = tmp_path / "errors.csv"
    out = io.StringIO()
    call_command(
        "import_leads",
        str(path),
        "--errors",
        str(errors),
        stdout=out,
        mapping='{"E-Mail": "email", "Country": "country", "Notes": "trait:notes"}',
    )
    assert "created 28" in out.getvalue()
    assert "failed 2" in out.getvalue()
    lines = errors.read_text().splitlines()
    assert lines[0] == "row,column,value,error,outcome"
    assert lines[1].startswith("12,E-Mail,not-an-email,")
    path.write_bytes(b"name\nAda\n")
    with pytest.raises(CommandError, match="no e-mail or external id"):
        call_command("import_leads", str(path))


@pytest.mark.django_db
def test_a_row_the_database_refuses_fails_alone(run_import, monkeypatch):
    # another writer creates legacy@… after the import looked it up (the lookup is made to
    # miss it): the import tries to create it, the unique constraint refuses — only that row fails
    Lead.objects.create(email="LEGACY@X.EXAMPLE", stage_changed_at=datetime.now(UTC))
    lookup = imports.email_in
    monkeypatch.setattr(
        imports, "email_in", lambda emails: lookup(set(emails) - {"legacy@x.example"})
    )
    data = b"email,first_name\none@x.example,One\nlegacy@x.example,Legacy\ntwo@x.example,Two\n"
    job = run_import(data)
    assert job.summary == {"rows": 3, "created": 2, "updated": 0, "skipped": 0, "failed": 1}
    error = ImportRowError.objects.get(job=job)
    assert error.row == 3
    assert "database refused" in error.message
    assert set(Lead.objects.values_list("email", flat=True)) == {
        "LEGACY@X.EXAMPLE", "one@x.example", "two@x.example",
    }  # fmt: skip
    assert StageChange.objects.filter(source="import").count() == 2


@pytest.mark.django_db
def test_a_row_that_crashes_the_import_code_fails_alone(run_import, monkeypatch):
    """Not only database refusals: any non-transient error in one row (a bug, here injected
    into our own code for one row) is that row's error, and the job goes on and finishes."""
    from privacy import imports

    real = imports._new_lead

    def new_lead(job, row, now):
        if row.fields.get("email") == "bad@x.example":
            raise TypeError("injected: cannot build this lead")
        return real(job, row, now)

    monkeypatch.setattr(imports, "_new_lead", new_lead)
    data = b"email,first_name\none@x.example,One\nbad@x.example,Bad\ntwo@x.example,Two\n"
    job = run_import(data)
    assert (job.status, job.error) == ("done", "")
    assert job.summary == {"rows": 3, "created": 2, "updated": 0, "skipped": 0, "failed": 1}
    error = ImportRowError.objects.get(job=job)
    assert (error.row, error.message) == (3, "Not imported: injected: cannot build this lead")
    assert set(Lead.objects.values_list("email", flat=True)) == {"one@x.example", "two@x.example"}


@pytest.mark.django_db
def test_a_legacy_capitalised_email_is_found_not_duplicated(run_import):
    # stored with capitals (bypassing the services): matched as the unique index compares, on
    # lower(email), so the row updates that lead instead of failing on the constraint
    legacy = Lead.objects.create(email="LEGACY@X.EXAMPLE", stage_changed_at=datetime.now(UTC))
    job = run_import(b"email,first_name\nlegacy@x.example,Legacy\n", policy=DedupePolicy.OVERWRITE)
    assert job.summary == {"rows": 1, "created": 0, "updated": 1, "skipped": 0, "failed": 0}
    legacy.refresh_from_db()
    assert legacy.first_name == "Legacy"


@pytest.mark.django_db
def test_imported_leads_reach_the_reports_rollup(run_import):
    from reports.models import LeadMilestone

    data = b"email,first_name,source\nnew@example.com,New,fair\n"
    assert run_import(data).created == 1
    lead = Lead.objects.get(email="new@example.com")
    milestone = LeadMilestone.objects.get(lead_id=lead.pk)
    assert milestone.source == "fair"
    data = b"email,first_name,source\nnew@example.com,New,webinar\n"
    assert run_import(data, policy=DedupePolicy.OVERWRITE).updated == 1
    milestone = LeadMilestone.objects.get(lead_id=lead.pk)
    assert milestone.source == "webinar"  # a bulk update of a reported field follows too
