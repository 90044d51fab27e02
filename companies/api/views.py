"""``/api/v1/accounts/``: accounts, their members and merges; ``/api/v1/leads/{id}/account/``.

Each write checks the input's shape and the caller's permission, then calls one service of
``companies.services``. A service's refusal (a django ValidationError or an ``AccountError``)
is a 400 naming the field, and nothing of the request is written (one transaction per call).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from companies import extensions, selectors, services
from companies.api.serializers import (
    AccountInputSerializer,
    AccountMergeInputSerializer,
    AccountSerializer,
    LeadAccountSerializer,
    MemberLinkInputSerializer,
    MemberRoleInputSerializer,
    MemberSerializer,
)
from companies.extensions import ScoredAccountFilterSet
from companies.models import Account, AccountDomain, Membership
from leadflow.api.auth import ReadWrite, request_user
from leadflow.api.idempotency import IdempotentMixin
from leadflow.apikeys import Scope
from leadflow.exceptions import NotFoundError
from leadflow.filters import BIGINT_MAX
from leads.api.views import IDEMPOTENCY_PARAMETER
from leads.permissions import HasPerm
from leads.permissions import Perm as LeadPerm
from leads.selectors import visible_lead_id

ACCOUNTS = ReadWrite(Scope.ACCOUNTS_READ, Scope.ACCOUNTS_WRITE)


class Perm(StrEnum):
    VIEW = "companies.view_account"
    ADD = "companies.add_account"
    CHANGE = "companies.change_account"
    MERGE = "companies.merge_accounts"
    SET_BUYING_ROLE = "companies.set_buying_role"


LEAD_ID = OpenApiParameter("lead_id", int, OpenApiParameter.PATH, description="The lead's id.")
BAD_INPUT = OpenApiResponse(
    description="Invalid fields, or refused by the accounts rules: `error.fields` names the "
    "field (`domains`, `parent`, `owner`, `duplicate` …) with the reason"
)
NOT_FOUND = OpenApiResponse(description="No such account, or no such lead the caller may see")


@contextmanager
def field_errors() -> Iterator[None]:
    """An ``AccountError`` (a lead or account gone, a lead in no account) as the API's 400
    naming its field, like the services' ValidationErrors."""
    try:
        yield
    except services.AccountError as exc:
        raise serializers.ValidationError({exc.field or "non_field_errors": [exc.message]}) from exc


class AccountViewSet(
    IdempotentMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Account],
):
    """Accounts (B2B companies): list with the account list's filters, create, update, members,
    merge. No DELETE: a duplicate goes by merging it into the account that stays."""

    serializer_class = AccountSerializer
    filterset_class = ScoredAccountFilterSet  # + grade=A&grade=B (the stored account score)
    ordering_fields = ("id", "created_at", "updated_at")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]  # delete: members
    required_scopes = ACCOUNTS
    idempotent_actions = frozenset({"create", "link_member", "merge"})
    queryset = Account.objects.none()  # for the schema generator; requests use get_queryset

    def get_permissions(self) -> list[Any]:
        per_action: dict[str, list[StrEnum]] = {
            "create": [Perm.ADD],
            "partial_update": [Perm.CHANGE],
            "merge": [Perm.MERGE],
            "set_member_role": [Perm.VIEW, Perm.SET_BUYING_ROLE],
            # a lead's company is the lead's data: whoever may change the lead links it
            "link_member": [Perm.VIEW, LeadPerm.CHANGE_LEAD],
            "unlink_member": [Perm.VIEW, LeadPerm.CHANGE_LEAD],
        }
        needed = per_action.get(self.action or "", [Perm.VIEW])
        return [IsAuthenticated(), *(HasPerm.of(p)() for p in needed)]

    def get_queryset(self) -> QuerySet[Account]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        domains = Prefetch("domains", queryset=AccountDomain.objects.order_by("-is_primary"))
        return selectors.account_list_qs(user=request_user(self.request)).prefetch_related(domains)

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        # A page of accounts: their scores in one query, not one per account
        if kwargs.get("many") and args:
            ids = [a.pk for a in args[0] if isinstance(a, Account)]
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["account_scores"] = extensions.account_scores(ids)
        return super().get_serializer(*args, **kwargs)

    def _account(self, pk: int) -> Account:
        return self.get_queryset().get(pk=pk)

    @extend_schema(
        request=AccountInputSerializer,
        responses={201: AccountSerializer, 400: BAD_INPUT},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Create an account. Leads with an e-mail at one of its domains and no "
        "account yet become its members (source `domain`).",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = AccountInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with field_errors():
            account = services.account_create(data=data.validated_data, actor=request_user(request))
        return Response(
            AccountSerializer(self._account(account.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=AccountInputSerializer(partial=True),
        responses={200: AccountSerializer, 400: BAD_INPUT},
        description="Change the fields sent; `domains` replaces the whole list. Audited.",
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        data = AccountInputSerializer(
            data=request.data, partial=True, context={"account_id": account.pk}
        )
        data.is_valid(raise_exception=True)
        with field_errors():
            services.account_update(
                account_id=account.pk, data=data.validated_data, actor=request_user(request)
            )
        return Response(AccountSerializer(self._account(account.pk)).data)

    # --- members ----------------------------------------------------------------------------

    @extend_schema(
        responses={200: MemberSerializer(many=True), 404: NOT_FOUND},
        description="The account's current members the caller may see (a rep: their own and "
        "their teams' leads), highest score first.",
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def members(self, request: Request, pk: str) -> Response:
        account = self.get_object()
        rows = selectors.account_members(user=request_user(request), account_id=account.pk)
        return Response(MemberSerializer(rows, many=True).data)

    @extend_schema(
        request=MemberLinkInputSerializer,
        responses={201: MemberSerializer, 200: MemberSerializer, 400: BAD_INPUT, 404: NOT_FOUND},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Link a lead to this account explicitly (source `explicit`, which no "
        "group call or e-mail domain replaces); its earlier link ends and stays in its history. "
        "201 when linked, 200 when it already was.",
    )
    @members.mapping.post
    def link_member(self, request: Request, pk: str) -> Response:
        account = self.get_object()
        data = MemberLinkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request_user(request)
        lead_id = visible_lead_id(user, data.validated_data["lead"])
        with field_errors(), transaction.atomic():
            changed = services.member_link(
                lead_id=lead_id,
                account_id=account.pk,
                source=Membership.Source.EXPLICIT,
                actor=user,
                reason=data.validated_data["reason"],
            )
            member = selectors.current_members_qs(account_id=account.pk).get(lead_id=lead_id)
        code = status.HTTP_201_CREATED if changed else status.HTTP_200_OK
        return Response(MemberSerializer(member).data, status=code)

    def _member(self, account: Account, lead_id: str) -> Membership:
        """The lead's current membership of ``account``, if the caller may see the lead."""
        user, pk = request_user(self.request), int(lead_id)
        members = selectors.account_members(user=user, account_id=account.pk)
        member = members.filter(lead_id=pk).first() if pk <= BIGINT_MAX else None
        if member is None:
            raise NotFoundError(_("That lead is not a member of this account."), field="lead")
        return member

    @extend_schema(
        request=MemberRoleInputSerializer,
        responses={200: MemberSerializer, 400: BAD_INPUT, 404: NOT_FOUND},
        parameters=[LEAD_ID],
        description="Set a member's buying-group role (then set by a person: rules no longer "
        "change it).",
    )
    @action(detail=True, methods=["patch"], url_path=r"members/(?P<lead_id>[0-9]+)")
    def set_member_role(self, request: Request, pk: str, lead_id: str) -> Response:
        member = self._member(self.get_object(), lead_id)
        data = MemberRoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with field_errors():
            services.member_set_role(
                lead_id=member.lead_id,
                role=data.validated_data["role"],
                actor=request_user(request),
            )
        member.refresh_from_db(fields=["role", "role_source"])
        return Response(MemberSerializer(member).data)

    @extend_schema(
        request=None,
        responses={204: None, 404: NOT_FOUND},
        parameters=[LEAD_ID],
        description='Take the lead out of this account: its link becomes an explicit "no '
        'account", which automatic matching (group calls, e-mail domains) leaves alone.',
    )
    @set_member_role.mapping.delete
    def unlink_member(self, request: Request, pk: str, lead_id: str) -> Response:
        member = self._member(self.get_object(), lead_id)
        with field_errors():
            services.member_link(
                lead_id=member.lead_id,
                account_id=None,
                source=Membership.Source.EXPLICIT,
                actor=request_user(request),
                reason="api",
            )
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- merge ------------------------------------------------------------------------------

    @extend_schema(
        request=AccountMergeInputSerializer,
        responses={200: AccountSerializer, 400: BAD_INPUT, 404: NOT_FOUND},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Fold `duplicate` into this account: its members (current and past), "
        "domains and subsidiaries move here, its traits fill gaps, the owner is the one of "
        "`keep_owner_of`; the duplicate is deleted (the audit log keeps its data). Merging an "
        "account into itself is a 400 naming `duplicate`.",
    )
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str) -> Response:
        account = self.get_object()
        data = AccountMergeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with field_errors():
            services.account_merge(
                survivor_id=account.pk,
                duplicate_id=data.validated_data["duplicate"],
                keep_owner_of=data.validated_data["keep_owner_of"],
                actor=request_user(request),
            )
        return Response(AccountSerializer(self._account(account.pk)).data)


class LeadAccountView(generics.GenericAPIView[Any]):
    """A lead's current account link and its membership history (``accounts:read``)."""

    serializer_class = LeadAccountSerializer
    required_scopes = ACCOUNTS
    permission_classes = [IsAuthenticated, HasPerm.of(Perm.VIEW)]
    pagination_class = None
    filter_backends: list[Any] = []
    queryset = Membership.objects.none()

    @extend_schema(responses={200: LeadAccountSerializer, 404: NOT_FOUND})
    def get(self, request: Request, lead_id: str) -> Response:
        pk = visible_lead_id(request_user(request), lead_id)
        body = {
            "current": selectors.lead_membership(lead_id=pk),
            "history": selectors.lead_membership_log(lead_id=pk),
        }
        return Response(LeadAccountSerializer(body).data)
