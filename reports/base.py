"""What every report returns (columns + rows) and the small helpers all reports share."""

from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.utils.translation import gettext as _

from leadflow.models import User
from leadflow.replica import ReadSource
from leads.models import Team


def none_label() -> str:
    """The group of rows without a value (no source, no team, ...), in the active language."""
    return _("(none)")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "int"  # text | int | number | rate | days | minutes | money


@dataclass
class Report:
    slug: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    # chart: the column holding the labels and the columns plotted as datasets
    chart_type: str = "bar"
    chart_label: str = ""
    chart_series: list[str] = field(default_factory=list)
    source: ReadSource = field(default_factory=lambda: ReadSource(DEFAULT_DB_ALIAS))

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.slug,
            "title": self.title,
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in self.columns],
            "rows": self.rows,
            "read_from": self.source.label,  # "replica" or "primary"
            "read_note": self.source.note,  # why a configured replica was skipped, else ""
        }


def rate(num: int | None, den: int | None) -> float | None:
    return round(num / den, 4) if num is not None and den else None


def group_names(by: str, keys: set[Any]) -> dict[Any, str]:
    """What a rep or team group is called (ids in the rows); a source is its own name."""
    ids = [k for k in keys if k]
    if by == "rep":
        return {u.pk: str(u) for u in User.objects.filter(pk__in=ids)}
    if by == "team":
        return dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))
    return {k: k for k in keys}
