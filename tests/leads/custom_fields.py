"""Custom field definitions the integration-boundary tests share (API, webhooks, ingest, CSV)."""

from leads.models import CustomField, FieldType


def make_field(key: str, type: str = FieldType.TEXT, **kwargs) -> CustomField:
    kwargs.setdefault("label", key.replace("_", " ").capitalize())
    return CustomField.objects.create(key=key, type=type, **kwargs)


def standard_fields() -> dict[str, CustomField]:
    """An integer, a single choice (with help text), a required text field is not here: tests
    that want one make it."""
    return {
        "seats": make_field("seats", FieldType.INTEGER, label="Seats"),
        "erp": make_field(
            "erp",
            FieldType.CHOICE,
            label="ERP in use",
            help_text="The customer's ERP system.",
            choices=[{"value": "sap", "label": "SAP"}, {"value": "odoo", "label": "Odoo"}],
        ),
        "renewal": make_field("renewal", FieldType.DATE, label="Renewal date"),
        "budget": make_field("budget", FieldType.MONEY, label="Budget", currency="EUR"),
    }
