from django.urls import URLPattern, URLResolver, path

from reports.api.views import ReportListView, ReportView

urlpatterns: list[URLPattern | URLResolver] = [
    path("reports/", ReportListView.as_view(), name="api-reports"),
    path("reports/<slug:slug>/", ReportView.as_view(), name="api-report"),
]
