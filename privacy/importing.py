"""Reading CSV files as people export them: detection, column mapping and per-row validation.

Pure apart from reading the file: no database (custom field definitions are passed in). ``privacy.services.import_run`` feeds the parsed
rows to the database in batches. Streams: memory does not grow with the file.

Handles: a UTF-8 BOM, UTF-16 (Excel "Unicode text"), Windows-1252 (Excel "CSV" on Windows),
comma / semicolon / tab / pipe delimiters, quoted newlines, Excel serial dates, mixed-case
e-mails, trailing empty cells, blank lines.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leadflow.exceptions import DomainError
from leads import customfields
from leads.models import CompanySize, CustomField, Lead, Seniority
from leads.services import domain_of, normalize_email, normalize_phone

SAMPLE_BYTES = 64 * 1024
csv.field_size_limit(1024 * 1024)  # one cell may hold a long note; a 1 MB cell is not a CSV


class ImportFileError(DomainError):
    """The whole file is refused (nothing is written): not CSV, encoding, missing columns."""

    code = "import_file_invalid"
    status = 400

    def __init__(self, message: str, *, field: str = "file") -> None:
        super().__init__(message, field=field)


# --- targets a column can map to ----------------------------------------------------------------

TEXT_FIELDS = (
    "external_id",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "company",
    "industry",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)
TARGETS: tuple[str, ...] = (
    "email",
    *TEXT_FIELDS,
    "name",  # "Ada Lovelace" -> first_name + last_name
    "domain",
    "seniority",
    "company_size",
    "employees",  # a number -> company_size bucket
    "country",
    "email_opt_out",
    "do_not_call",
    "created_at",  # when the lead was first seen (a date; Excel serials too)
    "account",  # the lead's account: its external id, a domain of it or its exact name
)
TRAIT_PREFIX = "trait:"  # "trait:plan" stores the cell in lead.traits["plan"]
CUSTOM_PREFIX = "custom."  # "custom.erp": the cell checked as custom field erp's type
IDENTITY_TARGETS = ("email", "external_id")

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "emailid", "workemail", "businessemail"),
    "external_id": ("externalid", "crmid", "contactid", "leadid", "recordid"),
    "first_name": ("firstname", "givenname", "first", "forename", "vorname", "prenom"),
    "last_name": ("lastname", "surname", "familyname", "last", "nachname", "nom"),
    "name": ("name", "fullname", "contactname", "contact"),
    "phone": ("phone", "phonenumber", "telephone", "tel", "mobile", "mobilephone", "telefon"),
    "job_title": ("jobtitle", "title", "position", "role"),
    "seniority": ("seniority", "level"),
    "company": ("company", "companyname", "organization", "organisation", "account", "firma"),
    "domain": ("domain", "website", "companydomain", "url"),
    "industry": ("industry", "sector"),
    "company_size": ("companysize", "size"),
    "employees": ("employees", "numberofemployees", "headcount", "employeecount"),
    "account": ("account", "accountid", "accountdomain", "accountname"),
    "country": ("country", "countrycode", "land"),
    "source": ("source", "leadsource"),
    "utm_source": ("utmsource",),
    "utm_medium": ("utmmedium",),
    "utm_campaign": ("utmcampaign", "campaign"),
    "utm_term": ("utmterm",),
    "utm_content": ("utmcontent",),
    "email_opt_out": ("emailoptout", "optout", "unsubscribed", "hasoptedoutofemail"),
    "do_not_call": ("donotcall", "dnc"),
    "created_at": ("createdat", "created", "createddate", "createdon", "signupdate", "date"),
}
_BY_SYNONYM = {syn: target for target, syns in _SYNONYMS.items() for syn in syns}


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def auto_mapping(header: list[str]) -> dict[str, str]:
    """Guess header -> target from common column names ("E-Mail Address" -> email)."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for column in header:
        target = _BY_SYNONYM.get(_header_key(column))
        if target and target not in used:
            mapping[column] = target
            used.add(target)
    return mapping


def custom_targets(custom_fields: Mapping[str, CustomField]) -> list[tuple[str, str]]:
    """(target, label) of each custom field, as the mapping step offers them."""
    return [
        (f"{CUSTOM_PREFIX}{key}", _("%(label)s (custom)") % {"label": f.label})
        for key, f in custom_fields.items()
    ]


def check_mapping(
    mapping: Mapping[str, str],
    header: list[str],
    custom_fields: Mapping[str, CustomField] | None = None,
) -> dict[str, str]:
    """The mapping, checked against the file's header and the lead's custom fields (by key).
    Raises ImportFileError naming the column."""
    custom_fields = custom_fields or {}
    missing = [column for column in mapping if column not in header]
    if missing:
        raise ImportFileError(
            _(
                "The mapping names column(s) the file does not have: %(missing)s. "
                "The file's columns are: %(columns)s."
            )
            % {"missing": ", ".join(missing), "columns": ", ".join(header)},
            field="mapping",
        )
    clean: dict[str, str] = {}
    for column, target in mapping.items():
        if not target:
            continue  # "" = ignore this column
        if target.startswith(CUSTOM_PREFIX):
            if target[len(CUSTOM_PREFIX) :] not in custom_fields:
                known = ", ".join(f"{CUSTOM_PREFIX}{k}" for k in custom_fields) or _("none yet")
                raise ImportFileError(
                    _(
                        "Column %(column)s maps to unknown custom field %(target)s; the lead's "
                        "custom fields are: %(known)s."
                    )
                    % {"column": repr(column), "target": repr(target), "known": known},
                    field="mapping",
                )
            clean[column] = target
            continue
        if target not in TARGETS and not (
            target.startswith(TRAIT_PREFIX) and len(target) > len(TRAIT_PREFIX)
        ):
            raise ImportFileError(
                _(
                    "Column %(column)s maps to unknown field %(target)s; expected one of "
                    "%(targets)s, trait:<name> or custom.<key>."
                )
                % {"column": repr(column), "target": repr(target), "targets": ", ".join(TARGETS)},
                field="mapping",
            )
        clean[column] = target
    targets = list(clean.values())
    doubled = sorted({t for t in targets if targets.count(t) > 1})
    if doubled:
        raise ImportFileError(
            _("Several columns map to %(fields)s; map each field once.")
            % {"fields": ", ".join(doubled)},
            field="mapping",
        )
    if not set(targets) & set(IDENTITY_TARGETS):
        raise ImportFileError(
            _(
                "The file has no e-mail or external id column, so no row could be matched or "
                "created. The file's columns are: %(columns)s. Map one of them "
                "to email or external_id."
            )
            % {"columns": ", ".join(header) or _("(none)")},
            field="mapping",
        )
    return clean


# --- opening the file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    encoding: str
    delimiter: str


# what a file that is not CSV starts with, and the whole sentence that refuses it
_MAGIC = {
    b"PK\x03\x04": gettext_lazy(
        "This is a ZIP archive (an Excel .xlsx workbook?), not a CSV file. Save it as CSV (UTF-8)."
    ),
    b"\xd0\xcf\x11\xe0": gettext_lazy(
        "This is an Excel .xls workbook, not a CSV file. Save it as CSV (UTF-8)."
    ),
    b"%PDF": gettext_lazy("This is a PDF document, not a CSV file. Save it as CSV (UTF-8)."),
    b"\x89PNG": gettext_lazy("This is a PNG image, not a CSV file. Save it as CSV (UTF-8)."),
    b"\xff\xd8\xff": gettext_lazy("This is a JPEG image, not a CSV file. Save it as CSV (UTF-8)."),
    b"\x1f\x8b": gettext_lazy("This is a gzip archive, not a CSV file. Save it as CSV (UTF-8)."),
}


def _decodes(raw: IO[bytes], encoding: str) -> bool:
    """Whether the whole file decodes in ``encoding`` (read in chunks, constant memory)."""
    raw.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := raw.read(1024 * 1024):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        raw.seek(0)
    return True


def detect(raw: IO[bytes], *, encoding: str = "", delimiter: str = "") -> Dialect:
    """Work out the encoding and delimiter, or refuse the file with a reason a person can act on."""
    raw.seek(0)
    sample = raw.read(SAMPLE_BYTES)
    raw.seek(0)
    if not sample.strip():
        raise ImportFileError(_("The file is empty."))
    for magic, refusal in _MAGIC.items():
        if sample.startswith(magic):
            raise ImportFileError(str(refusal))
    if encoding:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise ImportFileError(
                _("Unknown encoding %(encoding)s. Use e.g. utf-8, utf-16 or cp1252.")
                % {"encoding": repr(encoding)},
                field="encoding",
            ) from None
        if not _decodes(raw, encoding):
            raise ImportFileError(
                _("The file is not valid %(encoding)s. Leave the encoding empty to detect it.")
                % {"encoding": encoding},
                field="encoding",
            )
    elif sample.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in sample:
        raise ImportFileError(_("The file contains binary data (NUL bytes): it is not a CSV file."))
    elif _decodes(raw, "utf-8"):
        encoding = "utf-8"
    elif _decodes(raw, "cp1252"):
        encoding = "cp1252"  # what Excel on Windows writes for "CSV (comma delimited)"
    else:
        raise ImportFileError(
            _(
                "Cannot tell the file's text encoding (it is neither UTF-8 nor Windows-1252). "
                "Save it as CSV UTF-8, or name the encoding."
            ),
            field="encoding",
        )
    if delimiter:
        if len(delimiter) != 1:
            raise ImportFileError(_("The delimiter must be one character."), field="delimiter")
        return Dialect(encoding=encoding, delimiter=delimiter)
    text = sample.decode(encoding, errors="ignore")
    if "\x00" in text or sum(not ch.isprintable() and ch not in "\r\n\t" for ch in text) > 10:
        raise ImportFileError(_("The file contains binary data: it is not a CSV file."))
    try:
        found = csv.Sniffer().sniff(text, delimiters=",;\t|").delimiter
    except csv.Error:
        first = text.splitlines()[0] if text.splitlines() else ""
        found = max(",;\t|", key=first.count)
    return Dialect(encoding=encoding, delimiter=found)


@dataclass
class ParsedRow:
    row: int  # the record number in the file; the header is row 1
    fields: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, str] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)  # clean values of non-empty cells
    created_at: datetime | None = None
    account: str = ""  # the "account" cell: resolved per batch (``privacy.imports``)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (column, value, message)

    @property
    def ok(self) -> bool:
        return not self.errors


class CsvSource:
    """An open CSV file: its header and a stream of raw records."""

    def __init__(self, raw: IO[bytes], dialect: Dialect) -> None:
        self.dialect = dialect
        self._text = io.TextIOWrapper(raw, encoding=dialect.encoding, newline="")
        self._reader = csv.reader(self._text, delimiter=dialect.delimiter)
        try:
            first = next(self._reader)
        except StopIteration:
            raise ImportFileError(_("The file has no header row.")) from None
        except csv.Error as exc:
            raise ImportFileError(
                _("The header row is not valid CSV: %(error)s.") % {"error": exc}
            ) from None
        self.header = [
            (cell.strip().lstrip("\ufeff") or f"column {n}") for n, cell in enumerate(first, 1)
        ]

    def records(self) -> Iterator[tuple[int, list[str] | None, str]]:
        """(row number, cells or None, CSV error); blank lines are left out."""
        number = 1
        while True:
            number += 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield number, None, _("Not valid CSV: %(error)s.") % {"error": exc}
                continue
            if not any(cell.strip() for cell in cells):
                continue
            yield number, cells, ""

    def detach(self) -> None:
        self._text.detach()  # leave the underlying binary file open for its owner to close


# --- validating a row --------------------------------------------------------------------------

_MAX_LENGTH: dict[str, int] = {
    f.name: f.max_length
    for f in Lead._meta.concrete_fields
    if f.max_length and f.name in (*TEXT_FIELDS, "email", "domain")
}
_TRUE = {"1", "true", "yes", "y", "x", "t", "ja", "oui", "wahr", "on"}
_FALSE = {"0", "false", "no", "n", "f", "nein", "non", "falsch", "off", ""}
_SENIORITY = {v.lower(): v for v in Seniority.values} | {
    str(label).lower(): v for v, label in Seniority.choices
}
_SENIORITY |= {"c-level": Seniority.CXO, "ceo": Seniority.CXO, "founder": Seniority.OWNER}
_SIZES = {v: v for v in CompanySize.values} | {
    str(label).replace(",", ""): v for v, label in CompanySize.choices
}
_SIZE_BOUNDS = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (1000, "201-1000"),
    (5000, "1001-5000"),
)
_EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
_DATE_FORMATS_DAYFIRST = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y")
_DATE_FORMATS_MONTHFIRST = ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%d.%m.%Y", "%d.%m.%y")


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(_("expected yes/no, true/false or 1/0"))


def parse_date(text: str, *, dayfirst: bool) -> datetime:
    """ISO dates/times, dd/mm/yyyy (or mm/dd/yyyy), dd.mm.yyyy and Excel serial day numbers."""
    value = text.strip()
    if re.fullmatch(r"\d{1,6}(\.\d+)?", value):  # Excel serial: days since 1899-12-30
        serial = float(value)
        if not 1 <= serial < 2958466:
            raise ValueError(_("a number out of the range of Excel dates"))
        return _EXCEL_EPOCH + timedelta(days=serial)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None:
        head = value.split(" ")[0]
        for fmt in _DATE_FORMATS_DAYFIRST if dayfirst else _DATE_FORMATS_MONTHFIRST:
            try:
                parsed = datetime.strptime(head, fmt)  # noqa: DTZ007  (made aware below)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueError(_("not a date (use YYYY-MM-DD, DD/MM/YYYY or an Excel date)"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year < 1970 or parsed > datetime.now(UTC) + timedelta(days=1):
        raise ValueError(_("a date before 1970 or in the future"))
    return parsed


def _employees_to_size(text: str) -> str:
    number = int(float(re.sub(r"[\s,']", "", text)))
    if number < 1:
        raise ValueError(_("must be at least 1"))
    for bound, size in _SIZE_BOUNDS:
        if number <= bound:
            return size
    return "5001+"


def _clean_domain(text: str) -> str:
    value = text.strip().lower()
    value = re.sub(r"^[a-z]+://", "", value).split("/")[0].split(":")[0]
    return value.removeprefix("www.")


def parse_row(
    number: int,
    cells: list[str],
    *,
    header: list[str],
    mapping: Mapping[str, str],
    dayfirst: bool = True,
    default_source: str = "",
    custom_fields: Mapping[str, CustomField] | None = None,
) -> ParsedRow:
    """Validate one record against the mapping; every problem names its column (a custom
    field's also the field and the type it expects)."""
    result = ParsedRow(row=number)
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
        # Translators: both numbers are at least 1; rephrase freely to avoid plural agreement
        # (e.g. "cells in the row: %(cells)s, columns in the header: %(columns)s").
        message = _("The row has %(cells)s cells but the header has %(columns)s columns.") % {
            "cells": len(cells),
            "columns": len(header),
        }
        result.errors.append(("", "", message))
        return result
    values = dict(zip(header, cells, strict=False))
    out = result.fields
    for column, target in mapping.items():
        raw = (values.get(column) or "").strip()
        try:
            if target.startswith(TRAIT_PREFIX):
                if raw:
                    result.traits[target[len(TRAIT_PREFIX) :]] = raw[:500]
            elif target.startswith(CUSTOM_PREFIX):
                custom = (custom_fields or {})[target[len(CUSTOM_PREFIX) :]]
                try:
                    value = customfields.clean_value(custom, raw)
                except customfields.FieldValueError as exc:
                    # Translators: a custom field's label, its column target and the problem
                    raise ValueError(
                        _("%(label)s (%(target)s): %(error)s")
                        % {"label": custom.label, "target": target, "error": exc}
                    ) from None
                if value is not None:  # an empty cell changes nothing
                    result.custom[custom.key] = value
            elif target == "email":
                email = normalize_email(raw)
                if email:
                    validate_email(email)
                    out["email"] = email
            elif target in TEXT_FIELDS or target == "domain":
                value = _clean_domain(raw) if target == "domain" else raw
                limit = _MAX_LENGTH.get(target)
                if limit and len(value) > limit:
                    raise ValueError(_("longer than %(limit)s characters") % {"limit": limit})
                if value:
                    out[target] = value
            elif target == "name":
                first, _sep, last = raw.partition(" ") if " " in raw else (raw, "", "")
                if raw:
                    out.setdefault("first_name", first[:100])
                    out.setdefault("last_name", last.strip()[:100])
            elif target == "seniority":
                if raw:
                    if raw.lower() not in _SENIORITY:
                        raise ValueError(
                            _("expected one of %(values)s")
                            % {"values": ", ".join(Seniority.values)}
                        )
                    out["seniority"] = _SENIORITY[raw.lower()]
            elif target == "company_size":
                if raw:
                    key = raw.replace(" ", "").replace("–", "-").replace(",", "")
                    if key not in _SIZES:
                        raise ValueError(
                            _("expected one of %(values)s")
                            % {"values": ", ".join(CompanySize.values)}
                        )
                    out["company_size"] = _SIZES[key]
            elif target == "employees":
                if raw:
                    out.setdefault("company_size", _employees_to_size(raw))
            elif target == "country":
                if raw:
                    if not re.fullmatch(r"[A-Za-z]{2}", raw):
                        raise ValueError(_("expected a two-letter ISO country code, e.g. DE"))
                    out["country"] = raw.upper()
            elif target in ("email_opt_out", "do_not_call"):
                if raw:
                    out[target] = parse_bool(raw)
            elif target == "created_at" and raw:
                result.created_at = parse_date(raw, dayfirst=dayfirst)
            elif target == "account":
                result.account = raw[:200]
        except ValidationError:
            result.errors.append((column, raw[:200], _("not a valid e-mail address")))
        except ValueError as exc:
            result.errors.append((column, raw[:200], str(exc) or _("not a valid value")))
    if result.errors:
        return result
    if not out.get("email") and not out.get("external_id"):
        column = next((c for c, t in mapping.items() if t in IDENTITY_TARGETS), "email")
        result.errors.append((column, "", _("needs an e-mail address or an external id")))
        return result
    if out.get("email") and not out.get("domain"):
        out["domain"] = domain_of(out["email"])
    if "phone" in out:
        out["phone_normalized"] = normalize_phone(out["phone"])
    if default_source and not out.get("source"):
        out["source"] = default_source
    return result
