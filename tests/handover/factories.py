from handover.models import (
    AssignmentMember,
    AssignmentRule,
    BusinessCalendarConfig,
    QualificationChecklist,
    QualificationFramework,
    SlaPolicy,
)

BANT = [
    {"key": "budget", "label": "Budget"},
    {"key": "authority", "label": "Authority"},
    {"key": "need", "label": "Need"},
    {"key": "timeline", "label": "Timeline"},
]
ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def framework(code="bant_t", min_met=3, required=("need",)):
    fw, _ = QualificationFramework.objects.get_or_create(
        code=code,
        defaults={
            "name": code.upper(),
            "criteria": BANT,
            "min_met": min_met,
            "required": list(required),
        },
    )
    return fw


def passed_checklist(lead):
    fw = framework()
    return QualificationChecklist.objects.create(
        lead=lead,
        framework=fw,
        answers={k: {"met": True} for k in ("budget", "authority", "need", "timeline")},
        passed=True,
    )


def calendar(name="always", working_hours=None, time_zone="UTC", holidays=()):
    cal, _ = BusinessCalendarConfig.objects.get_or_create(
        name=name,
        defaults={
            "time_zone": time_zone,
            "working_hours": working_hours or ALWAYS,
            "holidays": list(holidays),
        },
    )
    return cal


def policy(stage="mql", target=60, warn=10, ladder=None, cal=None):
    SlaPolicy.objects.filter(stage=stage, active=True).update(active=False)
    return SlaPolicy.objects.create(
        name=f"{stage} {target}m",
        stage=stage,
        calendar=cal or calendar(),
        target_minutes=target,
        warn_before_minutes=warn,
        escalation=ladder
        if ladder is not None
        else [
            {"after_minutes": 0, "action": "remind_owner"},
            {"after_minutes": 30, "action": "notify_manager"},
            {"after_minutes": 60, "action": "reassign"},
        ],
    )


def rule(name="rr", team=None, members=(), position=100, **kwargs):
    r = AssignmentRule.objects.create(name=name, team=team, position=position, **kwargs)
    for member in members:
        user, weight = member if isinstance(member, tuple) else (member, 1)
        AssignmentMember.objects.create(rule=r, user=user, weight=weight)
    return r
