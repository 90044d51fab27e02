from typing import Any

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from leadflow import deadletter
from leadflow.apikeys import (
    PUBLIC_SCOPES,
    Scope,
    api_key_create,
    api_key_revoke,
    api_key_set_browser_settings,
    clean_origins,
)
from leadflow.lockout import login_unlock
from leadflow.models import ApiKey, AuditEvent, DeadLetter, User, WorkerHeartbeat


@admin.register(User)
class LeadflowUserAdmin(UserAdmin[User]):
    actions = ["unlock_login"]

    @admin.action(
        description=gettext_lazy("Unlock log-in (forget failed log-ins)"), permissions=["change"]
    )
    def unlock_login(self, request, queryset):  # type: ignore[no-untyped-def]
        unlocked = [
            user.get_username()
            for user in queryset
            if login_unlock(actor=request.user, username=user.get_username(), request=request)
        ]
        self.message_user(
            request,
            _(
                "Unlocked %(users)s. A locked network address stays locked: remove its "
                "rows under Access attempts."
            )
            % {"users": ", ".join(unlocked)}
            if unlocked
            else _("None of the selected users had failed log-ins to forget."),
        )


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """axes' failed log-ins (one row per user name, address and browser). Removing rows is what
    unlocks, so every way of removing them here goes through ``login_unlock`` (audited)."""

    actions = ["unlock", "cleanup_expired_attempts"]

    @admin.action(
        description=gettext_lazy("Unlock: forget the selected failed log-ins"),
        permissions=["delete"],
    )
    def unlock(self, request, queryset):  # type: ignore[no-untyped-def]
        removed = login_unlock(
            actor=request.user, attempt_ids=[a.pk for a in queryset], request=request
        )
        self.message_user(
            request,
            ngettext("Forgot %(n)s failed log-in row.", "Forgot %(n)s failed log-in rows.", removed)
            % {"n": removed},
        )

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        login_unlock(actor=request.user, attempt_ids=[obj.pk], request=request)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        login_unlock(actor=request.user, attempt_ids=[a.pk for a in queryset], request=request)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ("name", "seen_at")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only: the audit log is evidence, nobody edits it."""

    list_display = ("at", "actor_label", "action", "target_type", "target_id", "ip_address")
    list_filter = ("action",)
    search_fields = ("actor_label", "action", "target_id")
    date_hierarchy = "at"

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class ApiKeyChangeForm(forms.ModelForm):  # type: ignore[type-arg]
    """A public key's browser settings: the origins are checked (and normalised) here."""

    class Meta:
        model = ApiKey
        fields = ("allowed_origins", "tracking_consent_required")

    def clean_allowed_origins(self) -> str:
        try:
            return "\n".join(clean_origins(self.cleaned_data.get("allowed_origins") or ""))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["allowed_origins"]) from None


class ApiKeyAddForm(ApiKeyChangeForm):
    scope_choices = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=[(s.value, s.value) for s in Scope],
        widget=forms.CheckboxSelectMultiple,
    )

    account = forms.ModelChoiceField(
        queryset=User.objects.order_by("username"),
        required=False,
        help_text=gettext_lazy(
            "The account the key acts as; empty: a new integration account api:<name>."
        ),
    )

    kind = forms.ChoiceField(
        choices=ApiKey.Kind.choices,
        initial=ApiKey.Kind.SECRET,
        required=False,  # empty: secret, as every key made before there were two kinds
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "Public: a website's key (in page source). It sends events to /v1/* only and "
            "changes known leads only with an identity signature; scope events:write only."
        ),
    )

    class Meta:
        model = ApiKey
        fields = ("name", "rate_limit", "allowed_origins", "tracking_consent_required")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["kind"] = data.get("kind") or ApiKey.Kind.SECRET
        browser = data.get("allowed_origins") or data.get("tracking_consent_required")
        if data["kind"] != ApiKey.Kind.PUBLIC and browser:
            self.add_error(
                "allowed_origins",
                _("Allowed origins and the tracking consent setting are for public keys only."),
            )
        extra = set(data.get("scope_choices") or ()) - PUBLIC_SCOPES
        if data["kind"] == ApiKey.Kind.PUBLIC and extra:
            self.add_error(
                "scope_choices", f"A public key may hold only {', '.join(sorted(PUBLIC_SCOPES))}."
            )
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    """Keys are created here (the key is shown once in a message) and revoked; of an active
    public key only its allowed origins and tracking-consent setting can be changed."""

    list_display = (
        "name",
        "kind",
        "prefix",
        "scope_list",
        "user",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("kind", "revoked_at")
    search_fields = ("name", "prefix", "user__username")
    actions = ["revoke"]
    readonly_fields = (
        "name",
        "kind",
        "prefix",
        "scopes",
        "user",
        "rate_limit",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    )

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def get_form(self, request, obj=None, change=False, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["form"] = ApiKeyAddForm if obj is None else ApiKeyChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    # a public key's browser settings stay editable (through api_key_set_browser_settings)
    browser_fields = ("allowed_origins", "tracking_consent_required")

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ()
        if obj.kind == ApiKey.Kind.PUBLIC and obj.revoked_at is None:
            return self.readonly_fields
        return (*self.readonly_fields, *self.browser_fields)

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ("name", "kind", "account", "scope_choices", "rate_limit", *self.browser_fields)
        return (*self.readonly_fields, *self.browser_fields)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            if set(self.browser_fields) & set(form.changed_data):
                api_key_set_browser_settings(
                    key_id=obj.pk,
                    allowed_origins=form.cleaned_data["allowed_origins"],
                    tracking_consent_required=form.cleaned_data["tracking_consent_required"],
                    actor=request.user,
                    request=request,
                )
            return
        created = api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scope_choices"],
            user=form.cleaned_data.get("account"),
            rate_limit=form.cleaned_data.get("rate_limit"),
            kind=form.cleaned_data["kind"],
            allowed_origins=form.cleaned_data.get("allowed_origins") or "",
            tracking_consent_required=bool(form.cleaned_data.get("tracking_consent_required")),
            actor=request.user,
            request=request,
        )
        for field in ApiKey._meta.concrete_fields:  # the admin goes on with ``obj``
            setattr(obj, field.attname, getattr(created.api_key, field.attname))
        obj._state.adding = False
        shown = _("Key created. Copy it now, it will not be shown again: %(secret)s") % {
            "secret": created.secret
        }
        if created.identity_secret:
            shown += _(
                " — and its identity secret (for your server only: it signs your users' ids): "
                "%(secret)s"
            ) % {"secret": created.identity_secret}
        self.message_user(request, shown, messages.WARNING)

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        # only an active public key's allowed origins and consent setting may change
        editable = obj is not None and obj.kind == ApiKey.Kind.PUBLIC and obj.revoked_at is None
        return editable and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description=gettext_lazy("Revoke the selected keys"))
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        for key in queryset:
            api_key_revoke(key_id=key.pk, actor=request.user, request=request)
        n = queryset.count()
        self.message_user(
            request, ngettext("Revoked %(n)s key.", "Revoked %(n)s keys.", n) % {"n": n}
        )


class DeadLetterKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return deadletter.kind_choices()

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin[DeadLetter]):
    """Items batches set aside (docs/operations.md#dead-letters): read, retry now, or delete
    one that needs no retry. Retried automatically with backoff until the row says it gave up."""

    list_display = (
        "kind_name",
        "item_id",
        "status",
        "attempts",
        "failed_at",
        "next_retry_at",
        "error_excerpt",
    )
    list_filter = ("status", DeadLetterKindFilter)
    search_fields = ("item_id", "error")
    ordering = ("-failed_at",)
    actions = ["retry_now"]
    readonly_fields = (
        "kind",
        "item_id",
        "status",
        "attempts",
        "first_failed_at",
        "failed_at",
        "next_retry_at",
        "error",
    )

    @admin.display(description="kind", ordering="kind")
    def kind_name(self, obj: DeadLetter) -> str:
        return deadletter.kind_label(obj.kind)

    @admin.display(description="error")
    def error_excerpt(self, obj: DeadLetter) -> str:
        return obj.error if len(obj.error) <= 120 else f"{obj.error[:119]}…"

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description=gettext_lazy("Retry now"), permissions=["change"])
    def retry_now(self, request, queryset):  # type: ignore[no-untyped-def]
        ok, failed = deadletter.retry_many(
            list(queryset.values_list("pk", flat=True)), actor=request.user, request=request
        )
        self.message_user(
            request,
            _(
                "%(ok)s went through (removed from the list); %(failed)s failed again (see the error)."
            )
            % {"ok": ok, "failed": failed},
            messages.SUCCESS if not failed else messages.WARNING,
        )
