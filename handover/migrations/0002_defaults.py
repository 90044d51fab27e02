"""Defaults a new install needs: rejection reasons, BANT/CHAMP/GPCTBA-C&I, a Mon–Fri calendar
and one SLA policy per stage. All editable afterwards (admin / API); reruns change nothing."""

from django.db import migrations
from django.utils.translation import gettext_noop as _

# _ (gettext_noop): the defaults are stored in English and the catalogs hold them, so pages that show them with
# {% translate value %} show an untouched default in the reader's language, a renamed one as typed

REASONS = [
    # code, label, route, reset engagement, requires comment
    ("wrong_industry", _("Wrong industry"), "disqualify", False, False),
    ("no_budget", _("No budget"), "nurture", False, False),
    ("not_ready", _("Not ready yet"), "nurture", True, False),
    ("duplicate", _("Duplicate"), "disqualify", False, False),
    ("bad_data", _("Bad data"), "disqualify", False, False),
    ("competitor", _("Competitor"), "disqualify", False, False),
    ("other", _("Other"), "nurture", False, True),
]


def _c(*items):
    return [{"key": k, "label": label, "help": help_} for k, label, help_ in items]


FRAMEWORKS = [
    (
        "bant",
        "BANT",
        _c(
            ("budget", _("Budget"), _("Is money set aside for this?")),
            ("authority", _("Authority"), _("Are we talking to (or reaching) the decision maker?")),
            ("need", _("Need"), _("Is there a real problem we solve?")),
            ("timeline", _("Timeline"), _("Will they buy within the planning horizon?")),
        ),
        3,
        ["need"],
        True,
    ),
    (
        "champ",
        "CHAMP",
        _c(
            ("challenges", _("Challenges"), _("What pain do they have that we solve?")),
            ("authority", _("Authority"), _("Who decides, and are they involved?")),
            ("money", _("Money"), _("Can they afford it?")),
            ("prioritization", _("Prioritization"), _("Is solving it a priority now?")),
        ),
        3,
        ["challenges"],
        False,
    ),
    (
        "gpctba_ci",
        "GPCTBA/C&I",
        _c(
            ("goals", _("Goals"), _("What are they trying to achieve?")),
            ("plans", _("Plans"), _("How do they plan to get there?")),
            ("challenges", _("Challenges"), _("What stands in the way?")),
            ("timeline", _("Timeline"), _("By when?")),
            ("budget", _("Budget"), _("What can they spend?")),
            ("authority", _("Authority"), _("Who signs?")),
            ("negative_consequences", _("Negative consequences"), _("What if they do nothing?")),
            ("positive_implications", _("Positive implications"), _("What if they succeed?")),
        ),
        6,
        ["goals", "challenges"],
        False,
    ),
]

LADDER = [
    {"after_minutes": 0, "action": "remind_owner"},
    {"after_minutes": 120, "action": "notify_manager"},
    {"after_minutes": 480, "action": "reassign"},
]
CALENDAR = _("Mon–Fri 09:00–17:00")
POLICIES = [
    # name, stage, business minutes, warn before, ladder
    (_("Accept an MQL within 8 business hours"), "mql", 8 * 60, 60, LADDER),
    (_("Qualify a SAL within 3 business days"), "sal", 3 * 8 * 60, 4 * 60, LADDER[:2]),
    (_("Contact a new SQL within 1 business hour"), "sql", 60, 15, LADDER[:2]),
]


def forwards(apps, schema_editor):
    Reason = apps.get_model("handover", "RejectionReason")
    Framework = apps.get_model("handover", "QualificationFramework")
    Calendar = apps.get_model("handover", "BusinessCalendarConfig")
    Policy = apps.get_model("handover", "SlaPolicy")
    for position, (code, label, route, reset, comment) in enumerate(REASONS):
        Reason.objects.get_or_create(
            code=code,
            defaults={
                "label": label,
                "route": route,
                "reset_engagement": reset,
                "requires_comment": comment,
                "position": position * 10,
            },
        )
    for code, name, criteria, min_met, required, default in FRAMEWORKS:
        Framework.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "criteria": criteria,
                "min_met": min_met,
                "required": required,
                "is_default": default,
            },
        )
    calendar, _created = Calendar.objects.get_or_create(
        name=CALENDAR,
        defaults={
            "time_zone": "UTC",
            "working_hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": [],
        },
    )
    for name, stage, minutes, warn, ladder in POLICIES:
        if not Policy.objects.filter(stage=stage, active=True).exists():
            Policy.objects.get_or_create(
                name=name,
                defaults={
                    "stage": stage,
                    "calendar": calendar,
                    "target_minutes": minutes,
                    "warn_before_minutes": warn,
                    "escalation": ladder,
                },
            )


class Migration(migrations.Migration):
    dependencies = [("handover", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
