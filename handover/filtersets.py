"""FilterSets shared by the API and (later) the pages."""

import django_filters

from handover.models import AccountHandover, Delivery, Handover, SlaTimer
from leadflow.filters import IntegerFilter


class HandoverFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Handover.Status.choices)
    owner = IntegerFilter(field_name="owner_id")
    lead = IntegerFilter(field_name="lead_id")
    reason = django_filters.CharFilter(field_name="reason_code")
    source = django_filters.CharFilter(field_name="lead_source", lookup_expr="iexact")
    unassigned = django_filters.BooleanFilter(field_name="owner", lookup_expr="isnull")

    class Meta:
        model = Handover
        fields: list[str] = []


class AccountHandoverFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=AccountHandover.Status.choices)
    owner = IntegerFilter(field_name="owner_id")
    account = IntegerFilter(field_name="account_id")
    tier = django_filters.CharFilter(field_name="tier")
    unassigned = django_filters.BooleanFilter(field_name="owner", lookup_expr="isnull")

    class Meta:
        model = AccountHandover
        fields: list[str] = []


class SlaTimerFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=SlaTimer.State.choices)
    stage = django_filters.CharFilter()
    lead = IntegerFilter(field_name="lead_id")
    owner = IntegerFilter(field_name="owner_id")
    breached = django_filters.BooleanFilter(
        field_name="breached_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = SlaTimer
        fields: list[str] = []


class DeliveryFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Delivery.Status.choices)
    channel = django_filters.ChoiceFilter(choices=Delivery.Channel.choices)
    subscription = IntegerFilter(field_name="subscription_id")

    class Meta:
        model = Delivery
        fields: list[str] = []
