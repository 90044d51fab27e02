"""One FilterSet for accounts, shared by the API and the account list page."""

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy

from companies.models import Account, AccountDomain, Tier
from leadflow.filters import IntegerFilter
from leads.models import CompanySize


class AccountFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=gettext_lazy("Search"), max_length=200)
    tier = django_filters.MultipleChoiceFilter(choices=Tier.choices, distinct=False)
    owner = IntegerFilter(field_name="owner_id")
    team = IntegerFilter(field_name="team_id")
    parent = IntegerFilter(field_name="parent_id")
    industry = django_filters.CharFilter(field_name="industry", lookup_expr="iexact")
    country = django_filters.CharFilter(field_name="country", lookup_expr="iexact")
    size_band = django_filters.ChoiceFilter(choices=CompanySize.choices)
    domain = django_filters.CharFilter(method="by_domain", max_length=253)
    unowned = django_filters.BooleanFilter(field_name="owner", lookup_expr="isnull")

    class Meta:
        model = Account
        fields: list[str] = []

    def search(self, qs: QuerySet[Account], name: str, value: str) -> QuerySet[Account]:
        value = value.strip()
        if not value:
            return qs
        domains = AccountDomain.objects.filter(
            account=OuterRef("pk"), domain__istartswith=value.lower()
        )
        return qs.filter(Q(name__icontains=value) | Exists(domains))

    def by_domain(self, qs: QuerySet[Account], name: str, value: str) -> QuerySet[Account]:
        return qs.filter(domains__domain=value.strip().lower())
