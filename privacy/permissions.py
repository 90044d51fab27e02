from enum import StrEnum


class Perm(StrEnum):
    IMPORT_LEADS = "privacy.import_leads"
    MERGE = "privacy.merge_leads"
    MANAGE_CONSENT = "privacy.manage_consent"
    EXPORT = "privacy.export_personal_data"
    ERASE = "privacy.erase_personal_data"
