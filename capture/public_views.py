"""What a visitor's browser calls under /f/ (no login, no session).

The submission endpoint is CSRF-exempt on purpose: it is a public, cross-origin endpoint that
authenticates nobody. CSRF protects requests that ride on a victim's cookies (a session); here
no cookie grants anything, so a forged cross-site post can do exactly what a direct post can,
and what that may do is limited by the spam checks, the origin check and ``leads.writepolicy``
(a public form adds to a known lead, never rewrites it). The confirmation link is exempt too:
its signed token in the URL is the secret a forger would need.
"""

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from capture import challenge, doi, spam
from capture.embed_views import frame_response
from capture.models import Form, Rejection, Submission
from capture.selectors import live_form
from capture.submit import SubmissionInvalidError, submission_receive, submission_validate
from leadflow.client_ip import client_ip
from leadflow.exceptions import DomainError

JSON = "application/json"
NON_FIELD = "__all__"
CORS_MAX_AGE = "600"


def _cors(response: HttpResponseBase, origin: str) -> HttpResponseBase:
    """Let the browser read the reply on ``origin`` (an allowed origin, checked by the caller)."""
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


def _page_csp(form: Form) -> dict[str, list[str]]:
    """Our HTML replies may show inside the form's iframe on its allowed origins, and the form
    page we show again (errors) may post to us and then be sent on to the form's thank-you page
    (browsers apply ``form-action`` to the redirect after a post too)."""
    target = spam.origin_of(form.redirect_url)
    return {
        "frame-ancestors": ["'self'", *form.origins()],
        "form-action": ["'self'", *([target] if target else [])],
    }


def _neutral() -> str:
    return _("Your submission could not be accepted. Please try again later.")


class _Reply:
    """Builds the replies of one submission request: JSON for the script embed, HTML pages for
    form-encoded posts (the iframe and plain HTML forms)."""

    def __init__(self, request: HttpRequest, form: Form | None, origin: str, allowed: bool):
        self.request, self.form, self.origin, self.allowed = request, form, origin, allowed
        self.json = request.content_type == JSON or JSON in request.headers.get("Accept", "")

    def _finish(self, response: HttpResponseBase) -> HttpResponseBase:
        if self.allowed:
            _cors(response, self.origin)
        if self.form is not None and not self.json:
            response._csp_replace = _page_csp(self.form)  # type: ignore[attr-defined]
        return response

    def refuse(self, status: int, code: str, message: str) -> HttpResponseBase:
        if self.json:
            return self._finish(
                JsonResponse({"ok": False, "code": code, "message": message}, status=status)
            )
        page = render(
            self.request,
            "capture/public/refused.html",
            {"form": self.form, "message": message},
            status=status,
        )
        return self._finish(page)

    def invalid(
        self, form: Form, errors: dict[str, list[str]], data: Mapping[str, Any]
    ) -> HttpResponseBase:
        message = _("Please correct the marked fields.")
        if self.json:
            body = {"ok": False, "code": "invalid", "message": message, "errors": errors}
            return self._finish(JsonResponse(body, status=400))
        return self._finish(
            frame_response(self.request, form, data=data, errors=errors, status=400)
        )

    def send_again(self, form: Form, data: Mapping[str, Any]) -> HttpResponseBase:
        """A plain HTML post, which could not answer the challenge: the form on our page,
        filled in, with a fresh challenge (frame.js solves it); it counts when sent from there."""
        try:
            submission_validate(form, data)
            errors: dict[str, list[str]] = {}
        except SubmissionInvalidError as exc:
            errors = dict(exc.errors)
        errors[NON_FIELD] = [_("Please check your answers and send the form again.")]
        page = frame_response(
            self.request, form, data=data, errors=errors, fresh_challenge=True, filled_already=True
        )
        return self._finish(page)

    def accepted(self, form: Form, submission: Submission) -> HttpResponseBase:
        if form.double_opt_in:  # the worker sends the e-mail once the lead is stored
            status, message = (
                "pending",
                _(
                    "Almost done: we have sent you an e-mail. Please click the link in it to "
                    "confirm."
                ),
            )
        else:
            status = "accepted"
            message = form.thank_you_message or _("Thank you! We have received your details.")
        if self.json:
            body = {
                "ok": True,
                "status": status,
                "message": message,
                "redirect_url": "" if status == "pending" else form.redirect_url,
            }
            return self._finish(JsonResponse(body))
        if form.redirect_url and status != "pending":
            return self._finish(_see_other(form.redirect_url))
        page = render(
            self.request, "capture/public/thanks.html", {"form": form, "message": message}
        )
        return self._finish(page)


def _see_other(url: str) -> HttpResponse:
    """303: the browser GETs the form's thank-you page on the marketer's site."""
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


def _decode(request: HttpRequest) -> dict[str, Any] | None:
    """The post as a dict; None when it is not a JSON object or a form."""
    if request.content_type == JSON:
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {key: request.POST.get(key) for key in request.POST}
    return None


@csrf_exempt  # see the module docstring: no cookie authenticates anything here
@require_http_methods(["POST", "OPTIONS"])
def submit(request: HttpRequest, public_id: str) -> HttpResponseBase:
    ip = client_ip(request)
    origin = spam.request_origin(request)
    form = live_form(public_id)
    if form is None:
        if request.method == "POST":
            spam.rejection_log(
                request=request,
                reason=Rejection.Reason.UNKNOWN_FORM,
                form_ref=public_id,
                ip=ip,
                origin=origin,
                detail=lambda: _("No live form has this id."),
            )
        reply = _Reply(request, None, origin, False)
        return reply.refuse(404, "not_found", _("This form does not exist or is not published."))
    allowed = spam.origin_allowed(form, origin, request)
    if request.method == "OPTIONS":
        if not allowed:
            return HttpResponse(status=403)
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = CORS_MAX_AGE
        return _cors(response, origin)
    reply = _Reply(request, form, origin, allowed)

    def refused(
        reason: str,
        detail: str | Callable[[], str],
        status: int,
        code: str,
        message: str,
        body: bytes = b"",
    ) -> HttpResponseBase:
        spam.rejection_log(
            request=request,
            reason=reason,
            detail=detail,
            form=form,
            ip=ip,
            origin=origin,
            body=body,
        )
        return reply.refuse(status, code, message)

    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > spam.MAX_BODY_BYTES:
        return refused(
            Rejection.Reason.TOO_LARGE,
            lambda: _("%(size)d bytes sent; at most %(limit)d are accepted.")
            % {"size": length, "limit": spam.MAX_BODY_BYTES},
            413,
            "too_large",
            _("This submission is too large."),
        )
    body = request.body
    if len(body) > spam.MAX_BODY_BYTES:  # pragma: no cover  (a lying Content-Length)
        return refused(Rejection.Reason.TOO_LARGE, "", 413, "too_large", _("Too large."))
    if not allowed:
        return refused(
            Rejection.Reason.ORIGIN,
            lambda: _("Origin %(origin)s is not among the form's allowed origins.")
            % {"origin": origin or _("(none sent)")},
            403,
            "origin_not_allowed",
            _("This form may not be sent from this website."),
            body,
        )
    limited = spam.rate_limited(form, ip)
    if limited is not None:
        wait, first = limited
        message = _("Too many submissions. Please try again later.")
        if first:
            spam.rejection_log(
                request=request,
                reason=Rejection.Reason.RATE_LIMITED,
                detail=lambda: _(
                    "Over the rate limit; later refusals in this window are not logged."
                ),
                form=form,
                ip=ip,
                origin=origin,
                body=body,
            )
        too_many = reply.refuse(429, "rate_limited", message)
        too_many["Retry-After"] = str(math.ceil(wait))
        return too_many
    data = _decode(request)
    if data is None:
        return refused(
            Rejection.Reason.INVALID,
            lambda: _("The body is not a JSON object or a form (Content-Type %(type)s).")
            % {"type": request.content_type or "-"},
            400,
            "invalid",
            _("Send the form as JSON or form-encoded."),
            body,
        )
    if data.get(spam.HONEYPOT):
        return refused(Rejection.Reason.HONEYPOT, spam.HONEYPOT, 403, "spam", _neutral(), body)
    token = data.get("lf_token")
    token = token if isinstance(token, str) else ""
    if not (token or reply.json or form.accepts_plain_posts):
        return reply.send_again(form, data)  # not a rejection: a step for a plain HTML form
    if token or reply.json:  # the plain HTML embed cannot fetch a challenge (docs/capture.md)
        verdict = spam.check_challenge(form, data)
        if not verdict.ok:
            too_fast = verdict.failure == challenge.Failure.TOO_FAST
            return refused(
                Rejection.Reason.TOO_FAST if too_fast else Rejection.Reason.CHALLENGE,
                f"{verdict.failure} ({verdict.age_seconds:.1f} s)",
                403,
                "spam",
                _neutral(),
                body,
            )
        if not spam.token_claim(token, age_seconds=verdict.age_seconds):
            return refused(
                Rejection.Reason.CHALLENGE, "replayed token", 403, "spam", _neutral(), body
            )
    try:
        cleaned = submission_validate(form, data)
        submission = submission_receive(
            form=form, cleaned=cleaned, ip=ip, language=translation.get_language() or ""
        )
    except (SubmissionInvalidError, DomainError) as exc:
        if token:
            spam.token_release(token)  # corrected and sent again with the same challenge
        if isinstance(exc, SubmissionInvalidError):
            errors = exc.errors
        else:
            errors = {exc.field if exc.field in data else "email": [exc.message]}
        spam.rejection_log(
            request=request,
            reason=Rejection.Reason.INVALID,
            detail=json.dumps(errors, ensure_ascii=False),
            form=form,
            ip=ip,
            origin=origin,
            body=body,
        )
        return reply.invalid(form, errors, data)
    return reply.accepted(form, submission)


@csrf_exempt  # the signed token in the URL is the secret; no cookie authorises the click
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a page with a button (mail scanners prefetch links); POST: the confirmation."""
    submission_id = doi.token_submission_id(token)
    if submission_id is None:
        return _bad_link(request)
    if request.method == "GET":
        submission = Submission.objects.select_related("form").filter(pk=submission_id).first()
        if submission is None:
            return _bad_link(request)
        done = submission.status != Submission.Status.PENDING
        return render(
            request,
            "capture/public/confirm.html",
            {"submission": submission, "form": submission.form, "done": done, "ask": not done},
        )
    outcome, submission = doi.submission_confirm(token=token)
    if outcome in (doi.Outcome.INVALID_LINK, doi.Outcome.GONE) or submission is None:
        return _bad_link(request)
    return render(
        request,
        "capture/public/confirm.html",
        {
            "submission": submission,
            "form": submission.form,
            "done": True,
            "already": outcome == doi.Outcome.ALREADY,
            "ask": False,
        },
    )


def _bad_link(request: HttpRequest) -> HttpResponse:
    return render(
        request, "capture/public/confirm_bad.html", {"days": doi.MAX_AGE // 86400}, status=400
    )
