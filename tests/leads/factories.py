from datetime import timedelta

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from leadflow.models import User
from leadflow.roles import sync_roles
from leads.events import dims_of
from leads.lifecycle import Stage
from leads.models import Activity, ActivityKind, Lead, StageChange


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password("pw")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            if not Group.objects.filter(name=extracted.value).exists():
                sync_roles()
            self.groups.add(Group.objects.get(name=extracted.value))


class LeadFactory(factory.django.DjangoModelFactory):
    """A lead in ``stage`` with a matching creation StageChange (stage == last log entry)."""

    class Meta:
        model = Lead
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@acme{n % 7}.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    company = factory.Faker("company")
    domain = factory.LazyAttribute(lambda lead: lead.email.split("@")[1])
    industry = "Software"
    country = "DE"
    source = "organic_search"
    stage = Stage.SUSPECT
    stage_changed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))

    @factory.post_generation
    def log(self, create, extracted, **kwargs):
        if create:
            StageChange.objects.create(
                lead=self,
                from_stage="",
                to_stage=self.stage,
                actor_kind="system",
                source=StageChange.Source.SYSTEM,
                reason="created",
                changed_at=self.stage_changed_at,
                **dims_of(self),
            )


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    lead = factory.SubFactory(LeadFactory)
    kind = ActivityKind.PAGE_VIEW
    occurred_at = factory.LazyFunction(timezone.now)
    properties = factory.LazyFunction(lambda: {"url": "/pricing"})
