"""The demo's capture form and analytics key (idempotent): ``manage.py seed_capture_demo``.

A live "whitepaper" form that scores as a download, with progressive fields, UTM hidden fields
and a versioned newsletter consent; the demo landing page (``/demo/landing/``) embeds it and
loads analytics-next with the demo's public key (``capture.demo``: derived from SECRET_KEY,
never stored). ``--origin`` (repeatable) allows a site origin on both; ``manage.py run`` passes
its own.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from capture.demo import demo_key_ensure
from capture.models import ConsentText, FieldKind, Form, FormField, HiddenSource
from leads.models import ActivityKind

NAME = "Demo: Lead scoring whitepaper"
PUBLIC_ID = "demo-whitepaper"
FIELDS: list[dict[str, Any]] = [
    {"trait": "email", "kind": FieldKind.EMAIL, "label": "Work e-mail", "required": True},
    {"trait": "firstName", "kind": FieldKind.TEXT, "label": "First name", "required": True},
    {"trait": "lastName", "kind": FieldKind.TEXT, "label": "Last name"},
    {"trait": "company", "kind": FieldKind.TEXT, "label": "Company"},
    {"trait": "title", "kind": FieldKind.TEXT, "label": "Job title", "progressive": True},
    {"trait": "phone", "kind": FieldKind.TEL, "label": "Phone", "progressive": True},
    {
        "trait": "industry",
        "kind": FieldKind.SELECT,
        "label": "Industry",
        "progressive": True,
        "choices": "Software\nManufacturing\nFinancial services\nRetail\nOther",
    },
    {
        "trait": "utm_source",
        "kind": FieldKind.HIDDEN,
        "label": "utm_source",
        "hidden_source": HiddenSource.UTM_SOURCE,
    },
    {
        "trait": "utm_campaign",
        "kind": FieldKind.HIDDEN,
        "label": "utm_campaign",
        "hidden_source": HiddenSource.UTM_CAMPAIGN,
    },
]
NEWSLETTER = (
    "Yes, send me LeadFlow's monthly newsletter. I can withdraw this consent at any time with "
    "the link in every e-mail."
)


class Command(BaseCommand):
    help = "Create the demo capture form once (the demo landing page embeds it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="an origin allowed to embed the form (repeatable), e.g. http://127.0.0.1:8000",
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        form, created = Form.objects.get_or_create(
            public_id=PUBLIC_ID,
            defaults={
                "name": NAME,
                "status": Form.Status.LIVE,
                "activity_kind": ActivityKind.DOWNLOAD,
                "progressive_slots": 1,
                "submit_label": "Download the whitepaper",
                "thank_you_message": "Thank you! The whitepaper is on its way to your inbox.",
            },
        )
        origins = set(form.origins()) | {o.rstrip("/") for o in options["origin"]}
        if origins != set(form.origins()):
            form.allowed_origins = "\n".join(sorted(origins))
            form.save(update_fields=["allowed_origins", "updated_at"])
        if created:
            for position, spec in enumerate(FIELDS):
                FormField.objects.create(form=form, position=position, **spec)
            ConsentText.objects.create(
                form=form, key="newsletter", version=1, text=NEWSLETTER, channel="email"
            )
        key, key_created = demo_key_ensure(origins=options["origin"])
        self.stdout.write(
            f"capture demo: form {form.public_id!r} {'created' if created else 'kept'}, "
            f"public analytics key {key.prefix!r} {'created' if key_created else 'kept'}"
        )
