from django.urls import URLPattern, URLResolver, path

from privacy import audit_views, request_views, views

app_name = "privacy"
urlpatterns: list[URLPattern | URLResolver] = [
    path("unsubscribe/<str:token>/", views.unsubscribe_view, name="unsubscribe"),
    path("imports/", views.import_list, name="imports"),
    path("imports/new/", views.import_new, name="import_new"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path(
        "imports/<int:pk>/cancel/", views.import_control, {"action": "cancel"}, name="import_cancel"
    ),
    path(
        "imports/<int:pk>/resume/", views.import_control, {"action": "resume"}, name="import_resume"
    ),
    path("imports/<int:pk>/errors.csv", views.import_errors_csv, name="import_errors"),
    path("duplicates/", views.duplicate_list, name="duplicates"),
    path("duplicates/<int:pk>/merge/", views.duplicate_merge, name="duplicate_merge"),
    path("requests/", request_views.subject_request, name="requests"),
    path("requests/export/", request_views.subject_export, name="request_export"),
    path("requests/erase/", request_views.subject_erase, name="request_erase"),
    path("audit/", audit_views.audit_log, name="audit_log"),
    path("audit/audit-log.csv", audit_views.audit_log_csv, name="audit_log_csv"),
]
