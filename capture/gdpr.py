"""Capture's share of a person's data requests (privacy.gdpr calls these; registered in apps).

Export: the person's form submissions and consent records. Erasure: a submission keeps its
form, time, status and whether it created the lead (the form's figures stay right), but loses
the answers, proposed changes, pages, referrer, anonymous id and IP; a consent record keeps
which text version and when, but not the page or IP; rejected submissions quoting the person's
identifiers are scrubbed like the dead letters.
"""

from typing import Any

from capture.models import ConsentRecord, Rejection, Submission
from leads.models import Lead


def personal_data(lead: Lead) -> dict[str, Any]:
    submissions = Submission.objects.filter(lead=lead).order_by("created_at", "id")
    records = ConsentRecord.objects.filter(lead=lead).select_related("consent_text")
    return {
        "form_submissions": [
            {k: v for k, v in row.items() if k != "lead_id"} for row in submissions.values()
        ],
        "form_consents": [
            {
                "form_id": r.consent_text.form_id,
                "consent": r.consent_text.key,
                "version": r.consent_text.version,
                "text": r.consent_text.text,
                "granted": r.granted,
                "at": r.at,
                "confirmed_at": r.confirmed_at,
                "page_url": r.page_url,
                "ip": r.ip,
            }
            for r in records.order_by("at", "id")
        ],
    }


def erase(lead: Lead, needles: list[str]) -> dict[str, int]:
    from privacy.gdpr import scrub

    submissions = Submission.objects.filter(lead=lead).update(
        answers={},
        proposed_changes={},
        page_url="",
        referrer="",
        anonymous_id="",
        ip=None,
        error="",
    )
    records = ConsentRecord.objects.filter(lead=lead).update(page_url="", ip=None)
    rejections = 0
    for needle in needles:
        for pk, excerpt, detail in Rejection.objects.filter(excerpt__icontains=needle).values_list(
            "pk", "excerpt", "detail"
        ):
            Rejection.objects.filter(pk=pk).update(
                excerpt=scrub(excerpt, needles), detail=scrub(detail, needles)
            )
            rejections += 1
    return {
        "form_submissions": submissions,
        "form_consents": records,
        "form_rejections": rejections,
    }
