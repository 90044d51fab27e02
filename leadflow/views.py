from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template import loader
from django.templatetags.static import static

from leadflow.api.auth import request_user
from leadflow.roles import role_labels
from leads.lifecycle import FUNNEL, Stage
from leads.selectors import lead_visible_qs


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role starts where it works: managers on their team, reps in the SAL inbox,
    marketers on the board (URL names only, so this bottom layer imports no app above)."""
    user = request_user(request)
    if user.has_perm("handover.reassign_handover"):
        return redirect("reports:manager_home")
    if user.has_perm("handover.decide_sal"):
        return redirect("handover:inbox")
    if user.has_perm("leads.view_all_leads"):
        return redirect("leads:board")
    counts = dict(
        lead_visible_qs(user=user)
        .order_by()
        .values_list("stage")
        .annotate(n=Count("id"))
        .values_list("stage", "n")
    )
    stages = [*FUNNEL, Stage.NURTURE, Stage.DISQUALIFIED]
    rows = [(stage.label, counts.get(stage.value, 0)) for stage in stages]
    return render(request, "home.html", {"rows": rows})


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on documents with no icon link (JSON, CSV, the browsable
    API): send them to the hashed static icon. Temporary (302): the hash changes per release."""
    return redirect(static("favicon.svg"))


# --- error pages (issue 17): styled, with the navigation, and one sentence on why ---


def _reason(exception: BaseException | None) -> str:
    """The message a view raised with (``PermissionDenied("Only managers ...")``), if any."""
    if exception is None or not exception.args or not isinstance(exception.args[0], str):
        return ""
    return exception.args[0]


def _roles(request: HttpRequest) -> list[str]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return role_labels(user.groups.values_list("name", flat=True))


def permission_denied(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    """``handler403``: who you are, why (the view's own message when it gave one), a way on."""
    context = {"reason": _reason(exception), "roles": ", ".join(_roles(request))}
    return render(request, "403.html", context, status=403)


def page_not_found(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    """``handler404``: the view's message ("There is no such lead you can see.") or a generic one;
    never Django's resolver details (the path list) with DEBUG off."""
    return render(request, "404.html", {"reason": _reason(exception)}, status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: the form was stale or came from elsewhere; say so and offer a way
    back (Django's reason string is for developers, not shown)."""
    return render(request, "403_csrf.html", {"roles": ", ".join(_roles(request))}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: rendered without the request (no context processors: no session, user or
    database, which may be what failed) and with the stylesheet URL worked out defensively."""
    try:
        css = static("css/leadflow.css")
    except ValueError:  # a manifest without the file (collectstatic not run): the plain name
        css = f"{settings.STATIC_URL}css/leadflow.css"
    html = loader.get_template("500.html").render({"css": css})
    return HttpResponseServerError(html)
