"""The API of configuration rows: one viewset that saves and deletes through
``leadflow.config_rows`` (the Settings pages' path: the same validation, the same audit row).
Each app's subclass names its queryset, serializer, permissions and key scopes."""

from typing import Any

from django.db.models import Model
from rest_framework import serializers, viewsets
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from leadflow.api.auth import request_user
from leadflow.config_rows import settings_delete, settings_save

READ_ACTIONS = frozenset({"list", "retrieve"})


class _ReadOrWritePerm(BasePermission):
    """The view's ``read_perm`` for list and retrieve, its ``write_perm`` for every change."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        read = getattr(view, "action", None) in READ_ACTIONS
        needed = view.read_perm if read else view.write_perm  # type: ignore[attr-defined]
        return bool(request.user and request.user.has_perm(str(needed)))


class ConfigViewSet(viewsets.ModelViewSet[Any]):
    """Configuration rows: ``read_perm`` reads, ``write_perm`` creates, changes and deletes
    (Django permission names, "app_label.codename"). A row others still point at is not deleted
    (409 naming them, leadflow/api/exceptions.py)."""

    read_perm: str = ""
    write_perm: str = ""

    def get_permissions(self) -> list[BasePermission]:
        return [IsAuthenticated(), _ReadOrWritePerm()]

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        model: type[Model] = self.get_queryset().model
        serializer.instance = settings_save(
            instance=model(),
            data=self._clean(serializer.validated_data),
            actor=request_user(self.request),
            request=self.request,
        )

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        assert serializer.instance is not None  # noqa: S101  (set by get_object)
        serializer.instance = settings_save(
            instance=serializer.instance,
            data=self._clean(serializer.validated_data),
            actor=request_user(self.request),
            request=self.request,
        )

    def perform_destroy(self, instance: Model) -> None:
        settings_delete(instance=instance, actor=request_user(self.request), request=self.request)

    def _clean(self, data: dict[str, Any]) -> dict[str, Any]:
        """What the subclass derives from the request's data before saving (none here)."""
        return data
