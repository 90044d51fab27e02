"""Interactive API docs: Swagger UI over ``/api/schema/``, served from our own origin.

Swagger UI's files come from the ``drf-spectacular-sidecar`` package (static files, no CDN), and
the split view loads its start-up script from a URL instead of an inline ``<script>``, so the page
runs under the site's strict Content-Security-Policy.

Who may see them: people who are logged in (and anyone, if ``LEADFLOW_API_DOCS_PUBLIC`` is set).
The instance faces the internet for ingestion, so an anonymous visitor should not get a map of
its surface and version; everyone who integrates has an account or an admin who does, and "Try
it out" needs a session anyway. The same operations are documented in docs/api.md, and
``manage.py spectacular --file schema.yaml`` exports the schema for code generators.
"""

from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


def docs_visible_to(request: HttpRequest | Request) -> bool:
    return bool(settings.LEADFLOW_API_DOCS_PUBLIC or request.user.is_authenticated)


class ApiDocsPermission(BasePermission):
    """drf-spectacular's SERVE_PERMISSIONS: the schema and the docs page follow one rule."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return docs_visible_to(request)


@cache
def _swagger_ui() -> Callable[..., HttpResponseBase]:
    # imported here: drf_spectacular.views reads SERVE_PERMISSIONS, i.e. this module, on import
    from drf_spectacular.views import SpectacularSwaggerSplitView

    return SpectacularSwaggerSplitView.as_view(url_name="schema")


def api_docs(request: HttpRequest) -> HttpResponseBase:
    """``/api/docs/``: a browser without a session goes to the login page, as everywhere else."""
    if not docs_visible_to(request):
        return redirect_to_login(request.get_full_path())
    return _swagger_ui()(request)
