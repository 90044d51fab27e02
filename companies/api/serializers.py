"""Accounts over the API: what is read (model serializers) and what is sent (input serializers,
checked for shape only; the services decide the rest and name the field they refuse)."""

import re
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from companies import extensions
from companies.models import Account, BuyingRole, Membership, Tier
from leadflow.api.serializers import JSONField, ModelSerializer
from leadflow.filters import BIGINT_MAX
from leads.api.serializers import StrictSerializerMixin
from leads.models import CompanySize

MAX_DOMAINS = 50
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def _id_field(**kwargs: Any) -> serializers.IntegerField:
    """A row id: a whole number a database column can hold (else a 400 naming the field, not an
    OverflowError binding it)."""
    return serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, **kwargs)


class DomainsField(serializers.ListField):
    """An account's domains as a list of names, the primary first. Written as the whole list
    (the first becomes the primary); read from the account's ``AccountDomain`` rows."""

    def to_representation(self, data: Any) -> list[str]:
        rows = data.all() if hasattr(data, "all") else data
        names = [(not r.is_primary, r.domain) for r in rows]  # prefetched: sort here
        return [domain for _primary, domain in sorted(names)]


class AccountSerializer(ModelSerializer[Account]):
    """An account as the API returns it."""

    domains = DomainsField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Web domains, lower-case; the primary first.",
    )
    # declared: a read-only model field loses allow_blank, and the schema would then refuse ""
    size_band = serializers.ChoiceField(
        choices=CompanySize.choices, allow_blank=True, read_only=True
    )
    tier = serializers.ChoiceField(
        choices=Tier.choices, allow_blank=True, read_only=True, help_text='"" for none.'
    )
    member_count = serializers.IntegerField(
        read_only=True, help_text="Current members (leads linked to the account), all of them."
    )
    score = serializers.SerializerMethodField(
        help_text="The account's stored score (fit + engagement); null when not scored yet. "
        "Why: GET /api/v1/accounts/{id}/score/."
    )
    grade = serializers.SerializerMethodField(
        help_text="The grade of the account's fit, A (best) to D; null when not scored yet."
    )

    class Meta:
        model = Account
        fields = (
            "id",
            "name",
            "domains",
            "external_id",
            "industry",
            "size_band",
            "country",
            "owner",
            "team",
            "tier",
            "parent",
            "traits",
            "member_count",
            "score",
            "grade",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def _score_of(self, account: Account) -> tuple[int, str] | None:
        # A list's scores come in the context, read in one query for the page (the viewset's
        # get_serializer); a single account's are read here.
        scores = self.context.get("account_scores")
        if scores is None:
            scores = extensions.account_scores([account.pk])
        return scores.get(account.pk)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_score(self, account: Account) -> int | None:
        found = self._score_of(account)
        return found[0] if found else None

    @extend_schema_field(
        serializers.ChoiceField(choices=[(g, g) for g in extensions.GRADES], allow_null=True)
    )
    def get_grade(self, account: Account) -> str | None:
        found = self._score_of(account)
        return (found[1] or None) if found else None


class AccountInputSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    """The fields of ``account_create`` / ``account_update``; a PATCH sends only those to
    change. Ids (owner, team, parent) and domains are checked by the services."""

    name = serializers.CharField(max_length=200)
    domains = serializers.ListField(
        child=serializers.CharField(max_length=253),
        required=False,
        max_length=MAX_DOMAINS,
        help_text="The whole list: the first is the primary. A free-mail domain (gmail.com), "
        "one that is not a bare host name, or one another account holds is a 400 naming "
        "`domains`. Leads with an e-mail at a new domain and no account yet join the account.",
    )
    external_id = serializers.CharField(
        max_length=128,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Another system's id (the Segment group call's groupId); unique.",
    )
    industry = serializers.CharField(max_length=100, required=False, allow_blank=True)
    size_band = serializers.ChoiceField(
        choices=CompanySize.choices, required=False, allow_blank=True
    )
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2"
    )
    owner = _id_field(
        required=False,
        allow_null=True,
        help_text="A user id: an active sales rep or manager; null: no owner.",
    )
    team = _id_field(required=False, allow_null=True, help_text="A team id; null: no team.")
    tier = serializers.ChoiceField(
        choices=Tier.choices,
        required=False,
        allow_blank=True,
        help_text='Target tier "1", "2" or "3"; "" for none.',
    )
    # "parent" is the wire name; DRF takes declared fields off the class, so nothing is shadowed
    parent = _id_field(  # type: ignore[assignment]
        required=False,
        allow_null=True,
        help_text="The parent account's id; one of its own subsidiaries is refused.",
    )
    traits = JSONField(required=False, help_text="Free-form object.")

    def validate_external_id(self, value: str | None) -> str | None:
        # The service refuses a taken id too, but its model check names no field (``__all__``,
        # the constraint's name); here the 400 names ``external_id``, as for every other field.
        value = (value or "").strip() or None
        if value is not None:
            others = Account.objects.filter(external_id=value)
            if self.context.get("account_id") is not None:
                others = others.exclude(pk=self.context["account_id"])
            if others.exists():
                raise serializers.ValidationError(
                    _("Another account has the external id %(id)s.") % {"id": value}
                )
        return value

    def validate_country(self, value: str) -> str:
        if value and not _COUNTRY.match(value):
            raise serializers.ValidationError(_("Two letters, e.g. DE."))
        return value.upper()

    def validate_traits(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError(_('Must be a JSON object, e.g. {"plan": "pro"}.'))
        return value


class MemberSerializer(ModelSerializer[Membership]):
    """A current member of an account: the lead and its link."""

    lead = serializers.IntegerField(source="lead_id", read_only=True)
    name = serializers.CharField(source="lead.display_name", read_only=True)
    email = serializers.CharField(source="lead.email", read_only=True, allow_null=True)
    stage = serializers.CharField(source="lead.stage", read_only=True)
    score = serializers.IntegerField(source="lead.score", read_only=True)

    class Meta:
        model = Membership
        fields = (
            "lead",
            "name",
            "email",
            "stage",
            "score",
            "role",
            "role_source",
            "source",
            "started_at",
        )
        read_only_fields = fields


class MemberLinkInputSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    lead = _id_field(help_text="The lead to link (one you may see).")
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class MemberRoleInputSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    role = serializers.ChoiceField(choices=BuyingRole.choices)


class AccountMergeInputSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    duplicate = _id_field(help_text="The account folded into this one (then deleted).")
    keep_owner_of = _id_field(
        help_text="The id of the account (this one or the duplicate) whose owner and team stay."
    )


class MembershipLogSerializer(ModelSerializer[Membership]):
    """One stretch of a lead's membership; ``account`` null is an explicit "no account"."""

    account_name = serializers.CharField(
        source="account.name", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Membership
        fields = (
            "id",
            "account",
            "account_name",
            "source",
            "role",
            "role_source",
            "started_at",
            "ended_at",
            "actor",
            "reason",
        )
        read_only_fields = fields


class LeadAccountSerializer(serializers.Serializer[dict[str, Any]]):
    current = MembershipLogSerializer(
        allow_null=True,
        read_only=True,
        help_text="The lead's current link: an account, or (account null) an explicit "
        '"no account"; null if the lead was never linked.',
    )
    history = MembershipLogSerializer(many=True, read_only=True, help_text="Newest first.")
