"""Issue 17 item 8: a merge from the duplicates page needs a confirmation step that shows both
leads readably (stage labels, ISO dates)."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.lifecycle import Stage
from leads.models import Lead
from privacy.models import DuplicatePair, MergeRecord
from tests.leads.factories import LeadFactory


@pytest.fixture
def pair(db):
    made = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    a = LeadFactory(stage=Stage.MQL, first_name="Ada")
    b = LeadFactory(stage=Stage.LEAD, first_name="Ada B")
    Lead.objects.filter(pk__in=[a.pk, b.pk]).update(created_at=made)  # (auto_now_add)
    return DuplicatePair.objects.create(
        lead_a=a, lead_b=b, reason=DuplicatePair.Reason.choices[0][0], found_at=timezone.now()
    )


@pytest.mark.django_db
def test_merge_asks_for_confirmation_with_labels_and_iso_dates(client, manager, pair):
    client.force_login(manager)
    url = reverse("privacy:duplicate_merge", args=[pair.pk])
    review = client.get(url).content.decode()
    assert "<td>MQL</td>" in review
    assert "<td>mql</td>" not in review
    assert "2026-03-04 09:30" in review
    assert "March" not in review
    assert "Mar." not in review

    # the first press only asks: nothing is merged yet
    asked = client.post(url, {"survivor": pair.lead_b_id, "action": "merge"})
    assert asked.status_code == 200
    page = asked.content.decode()
    assert f"Merge lead #{pair.lead_a_id} into lead #{pair.lead_b_id}?" in page
    assert 'name="confirm" value="1"' in page
    assert "<td>Lead</td>" in page
    assert "<td>MQL</td>" in page
    assert "2026-03-04 09:30" in page
    assert Lead.objects.filter(pk=pair.lead_a_id).exists()
    assert not MergeRecord.objects.exists()

    done = client.post(url, {"survivor": pair.lead_b_id, "action": "merge", "confirm": "1"})
    assert done.status_code == 302, done.content.decode()[-1500:]
    assert not Lead.objects.filter(pk=pair.lead_a_id).exists()
    assert MergeRecord.objects.filter(survivor_id=pair.lead_b_id).exists()


@pytest.mark.django_db
def test_a_survivor_outside_the_pair_is_refused(client, manager, pair):
    client.force_login(manager)
    other = LeadFactory()
    url = reverse("privacy:duplicate_merge", args=[pair.pk])
    response = client.post(url, {"survivor": other.pk, "action": "merge", "confirm": "1"})
    assert "Choose which of the two leads to keep." in response.content.decode()
    assert Lead.objects.filter(pk__in=[pair.lead_a_id, pair.lead_b_id]).count() == 2
