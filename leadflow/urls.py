from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView

from leadflow import profile, views
from leadflow.api.auth import ReadWrite
from leadflow.api.docs import api_docs
from leadflow.api.exceptions import api_not_found
from leadflow.apikeys import Scope


class SchemaView(SpectacularAPIView):
    """``/api/schema/``: people need a login (see leadflow/api/docs.py); keys ``schema:read``."""

    required_scopes = ReadWrite(Scope.SCHEMA_READ)


# Each app owns its own urls.py (pages) and api/urls.py (REST under /api/v1/).
urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", profile.profile, name="profile"),
    # the strings of static/js/*.js in the reader's language (the djangojs catalog)
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/v1/", include("leads.api.urls")),
    path("api/v1/", include("scoring.api.urls")),
    path("api/v1/", include("handover.api.urls")),
    path("api/v1/", include("reports.api.urls")),
    path("api/v1/", include("attribution.api_urls")),  # campaign spend
    path("api/v1/", include("predictive.api.urls")),
    path("api/v1/", include("companies.api.urls")),  # accounts (B2B companies)
    path("v1/", include("leads.api.segment_urls")),  # Segment-compatible ingestion
    # analytics-next's standalone build loads its chunks from <_cdn>/analytics-next/bundles/
    path("analytics-next/", include("leads.api.browser_urls")),
    path("api/v1/", include("privacy.api.urls")),
    path("leads/", include("leads.urls")),
    path("companies/", include("companies.urls")),  # "Accounts" (/accounts/ is the login's)
    path("scoring/", include("scoring.urls")),
    path("handover/", include("handover.urls")),
    path("reports/", include("reports.urls")),
    path("predictive/", include("predictive.urls")),
    path("privacy/", include("privacy.urls")),
    path("settings/", include("configure.urls")),
    path("bulk/", include("bulk.urls")),
    path("capture/", include("capture.urls")),  # the marketer's forms
    path("f/", include("capture.public_urls")),  # what visitors' browsers call
    path("demo/landing/", include("capture.demo_urls")),  # 404 unless LEADFLOW_DEMO_LANDING
    # last: an API path no route matches (e.g. a non-integer id) is a JSON 404 in the API's
    # error shape, with DEBUG too (Django's own 404 page is HTML); [\s\S], as "." skips "\n"
    re_path(r"^(?:api|v1)/[\s\S]*/$", api_not_found),
]

# Styled error pages with the navigation (issue 17); used with DEBUG off.
handler403 = "leadflow.views.permission_denied"
handler404 = "leadflow.views.page_not_found"
handler500 = "leadflow.views.server_error"
