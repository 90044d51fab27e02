from enum import StrEnum


class Perm(StrEnum):
    VIEW_REPORTS = "reports.view_reports"
