"""Settings › API keys and Settings › Webhooks: the admin's pages for integrations.

Each view checks its permission (``leadflow.manage_api_keys``, ``handover.manage_webhooks``)
and calls one service: ``leadflow.apikeys`` for keys, ``handover.webhooks`` and
``handover.outbox.delivery_redeliver`` for webhooks (the same ones the API and the admin use).

A secret (a new key, a new or rotated signing secret) is shown once: the POST keeps it in the
session and redirects to a result page, which takes it out of the session as it renders it
(``Cache-Control: no-store``). Loading that page again shows that it is gone.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from configure.integrations_forms import (
    ApiKeyBrowserForm,
    ApiKeyCreateForm,
    WebhookForm,
    add_service_errors,
    named_errors,
)
from handover import rules, webhooks
from handover.models import Delivery, WebhookSubscription
from handover.outbox import DeliveryChangedError, delivery_redeliver, delivery_state
from handover.permissions import Perm
from leadflow.api.auth import request_user
from leadflow.apikeys import (
    SCOPE_HELP,
    api_key_create,
    api_key_revoke,
    api_key_set_browser_settings,
)
from leadflow.exceptions import DomainError
from leadflow.models import ApiKey

MANAGE_API_KEYS = "leadflow.manage_api_keys"
SHOWN_ONCE = "configure.shown_once"  # session key: {"apikey:<id>": {...}, "webhook:<id>": {...}}
DELIVERIES_PER_PAGE = 25

View = Callable[..., HttpResponse]


def _needs(perm: str) -> Callable[[View], View]:
    """Anonymous: to the log-in page; logged in without ``perm``: 403."""

    def wrap(view: View) -> View:
        return login_required(permission_required(perm, raise_exception=True)(view))

    return wrap


def _keep_once(request: HttpRequest, tag: str, payload: dict[str, str]) -> None:
    request.session[SHOWN_ONCE] = {**request.session.get(SHOWN_ONCE, {}), tag: payload}


def _take_once(request: HttpRequest, tag: str) -> dict[str, str] | None:
    kept = dict(request.session.get(SHOWN_ONCE, {}))
    payload: dict[str, str] | None = kept.pop(tag, None)
    if payload is not None:
        request.session[SHOWN_ONCE] = kept
    return payload


def _form_page(request: HttpRequest, template: str, form: Any, **ctx: Any) -> HttpResponse:
    status = 422 if form.errors else 200
    return render(
        request, template, {"form": form, "error_list": named_errors(form), **ctx}, status=status
    )


# --- API keys -----------------------------------------------------------------------------------


@_needs(MANAGE_API_KEYS)
def apikeys_list(request: HttpRequest) -> HttpResponse:
    keys = ApiKey.objects.select_related("user", "created_by").order_by(
        F("revoked_at").asc(nulls_first=True),
        "-id",  # active first on every database
    )
    return render(request, "configure/apikeys_list.html", {"keys": keys})


@_needs(MANAGE_API_KEYS)
@require_http_methods(["GET", "POST"])
def apikeys_new(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = api_key_create(
                name=data["name"],
                kind=data["kind"],
                scopes=data["scopes"],
                user=data["user"],
                allowed_origins=data["allowed_origins"],
                tracking_consent_required=data["tracking_consent_required"],
                actor=request_user(request),
                request=request,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            key = created.api_key
            _keep_once(
                request,
                f"apikey:{key.pk}",
                {"secret": created.secret, "identity_secret": created.identity_secret},
            )
            return redirect("configure:apikeys_created", key_id=key.pk)
    return _form_page(request, "configure/apikeys_new.html", form, scope_help=SCOPE_HELP)


@_needs(MANAGE_API_KEYS)
@require_http_methods(["GET", "POST"])
def apikeys_browser(request: HttpRequest, key_id: int) -> HttpResponse:
    """An active public key's allowed origins and tracking-consent setting."""
    key = get_object_or_404(
        ApiKey.objects.filter(kind=ApiKey.Kind.PUBLIC, revoked_at__isnull=True), pk=key_id
    )
    initial = {
        "allowed_origins": key.allowed_origins,
        "tracking_consent_required": key.tracking_consent_required,
    }
    form = ApiKeyBrowserForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            api_key_set_browser_settings(
                key_id=key.pk,
                allowed_origins=form.cleaned_data["allowed_origins"],
                tracking_consent_required=form.cleaned_data["tracking_consent_required"],
                actor=request_user(request),
                request=request,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The key's browser settings are saved."))
            return redirect("configure:apikeys")
    return _form_page(request, "configure/apikeys_browser.html", form, key=key)


@_needs(MANAGE_API_KEYS)
@never_cache
def apikeys_created(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.select_related("user"), pk=key_id)
    shown = _take_once(request, f"apikey:{key.pk}")
    return render(request, "configure/apikeys_created.html", {"key": key, "shown": shown})


@_needs(MANAGE_API_KEYS)
@require_http_methods(["GET", "POST"])
def apikeys_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.select_related("user"), pk=key_id)
    if request.method == "POST":
        already = key.revoked_at is not None
        api_key_revoke(key_id=key.pk, actor=request_user(request), request=request)
        if already:
            messages.info(request, _("%(key)s was already revoked.") % {"key": key})
        else:
            messages.success(
                request, _("Revoked %(key)s: requests with it now get 401.") % {"key": key}
            )
        return redirect("configure:apikeys")
    return render(request, "configure/apikeys_revoke.html", {"key": key})


# --- webhooks -----------------------------------------------------------------------------------


def _subscription(sub_id: int) -> WebhookSubscription:
    return get_object_or_404(WebhookSubscription, pk=sub_id)


def _save_errors(form: WebhookForm, exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        add_service_errors(form, exc)
    elif isinstance(exc, DomainError):
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@_needs(Perm.MANAGE_WEBHOOKS)
def webhooks_list(request: HttpRequest) -> HttpResponse:
    subs = webhooks.subscription_list()
    return render(request, "configure/webhooks_list.html", {"subscriptions": subs})


@_needs(Perm.MANAGE_WEBHOOKS)
@require_http_methods(["GET", "POST"])
def webhooks_new(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST or None, initial={"active": True})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sub = webhooks.subscription_create(
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                active=data["active"],
                actor=request_user(request),
                request=request,
            )
        except (ValidationError, DomainError) as exc:
            _save_errors(form, exc)
        else:
            _keep_once(request, f"webhook:{sub.pk}", {"secret": sub.secret, "why": "created"})
            return redirect("configure:webhooks_secret", sub_id=sub.pk)
    return _form_page(request, "configure/webhooks_form.html", form, subscription=None)


@_needs(Perm.MANAGE_WEBHOOKS)
@require_http_methods(["GET", "POST"])
def webhooks_edit(request: HttpRequest, sub_id: int) -> HttpResponse:
    sub = _subscription(sub_id)
    initial = {
        "url": sub.url,
        "description": sub.description,
        "event_types": sub.event_types,
        "active": sub.active,
    }
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            webhooks.subscription_update(
                subscription_id=sub.pk,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                active=data["active"],
                actor=request_user(request),
                request=request,
            )
        except (ValidationError, DomainError) as exc:
            _save_errors(form, exc)
        else:
            messages.success(request, _("Saved the webhook to %(url)s.") % {"url": data["url"]})
            return redirect("configure:webhooks")
    return _form_page(
        request,
        "configure/webhooks_form.html",
        form,
        subscription=sub,
        secret_hint=rules.secret_hint(sub.secret),
    )


@_needs(Perm.MANAGE_WEBHOOKS)
@require_POST
def webhooks_active(request: HttpRequest, sub_id: int) -> HttpResponse:
    sub = _subscription(sub_id)
    active = request.POST.get("active") == "1"
    webhooks.subscription_set_active(
        subscription_id=sub.pk, active=active, actor=request_user(request), request=request
    )
    if active:
        messages.success(request, _("Enabled the webhook to %(url)s.") % {"url": sub.url})
    else:
        messages.success(request, _("Disabled the webhook to %(url)s.") % {"url": sub.url})
    return redirect("configure:webhooks")


@_needs(Perm.MANAGE_WEBHOOKS)
@require_http_methods(["GET", "POST"])
def webhooks_rotate(request: HttpRequest, sub_id: int) -> HttpResponse:
    sub = _subscription(sub_id)
    if request.method == "POST":
        sub = webhooks.subscription_rotate_secret(
            subscription_id=sub.pk, actor=request_user(request), request=request
        )
        _keep_once(request, f"webhook:{sub.pk}", {"secret": sub.secret, "why": "rotated"})
        return redirect("configure:webhooks_secret", sub_id=sub.pk)
    return render(
        request,
        "configure/webhooks_rotate.html",
        {"subscription": sub, "secret_hint": rules.secret_hint(sub.secret)},
    )


@_needs(Perm.MANAGE_WEBHOOKS)
@never_cache
def webhooks_secret(request: HttpRequest, sub_id: int) -> HttpResponse:
    sub = _subscription(sub_id)
    shown = _take_once(request, f"webhook:{sub.pk}")
    ctx = {"subscription": sub, "shown": shown, "secret_hint": rules.secret_hint(sub.secret)}
    return render(request, "configure/webhooks_secret.html", ctx)


@_needs(Perm.MANAGE_WEBHOOKS)
def webhooks_deliveries(request: HttpRequest, sub_id: int) -> HttpResponse:
    sub = _subscription(sub_id)
    failed_only = request.GET.get("failed") == "1"
    qs = webhooks.subscription_deliveries(subscription=sub, failed_only=failed_only)
    page = Paginator(qs, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(d, delivery_state(d)) for d in page.object_list]
    ctx = {"subscription": sub, "page": page, "rows": rows, "failed_only": failed_only}
    return render(request, "configure/webhooks_deliveries.html", ctx)


def _delivery_said(delivery_id: int, message: str) -> str:
    # Translators: why a delivery was not queued again, e.g. "Delivery #12: This delivery is
    # being attempted right now."
    return _("Delivery #%(id)s: %(message)s") % {"id": delivery_id, "message": message}


@_needs(Perm.MANAGE_WEBHOOKS)
@require_POST
def webhooks_redeliver(request: HttpRequest, sub_id: int, delivery_id: int) -> HttpResponse:
    sub = _subscription(sub_id)
    if not Delivery.objects.filter(pk=delivery_id, subscription=sub).exists():
        raise Http404(_("No such delivery for this webhook."))
    try:
        delivery_redeliver(
            delivery_id=delivery_id,
            expected=request.POST.get("state", ""),
            actor=request_user(request),
            request=request,
        )
    except DeliveryChangedError as exc:
        messages.info(request, _delivery_said(delivery_id, exc.message))
    except DomainError as exc:
        messages.warning(request, _delivery_said(delivery_id, exc.message))
    else:
        messages.success(request, _("Delivery #%(id)s queued again.") % {"id": delivery_id})
    url = reverse("configure:webhooks_deliveries", kwargs={"sub_id": sub.pk})
    return redirect(url + ("?failed=1" if request.POST.get("failed") == "1" else ""))
