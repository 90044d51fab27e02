from django.urls import URLPattern, URLResolver, path

from configure import customfield_views as cfv
from configure import integrations_views as iv
from configure import views
from configure.sales_urls import urlpatterns as sales_urlpatterns

app_name = "configure"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    # SLA policies, calendars, assignment, reasons, frameworks, availability, users and teams
    *sales_urlpatterns,
    # custom fields
    path("custom-fields/", cfv.field_list, name="custom_fields"),
    path("custom-fields/new/", cfv.field_edit, name="custom_fields_new"),
    path("custom-fields/<int:pk>/", cfv.field_edit, name="custom_fields_edit"),
    path("custom-fields/<int:pk>/type/", cfv.field_change_type, name="custom_fields_type"),
    path("custom-fields/<int:pk>/delete/", cfv.field_delete, name="custom_fields_delete"),
    # API keys and webhooks
    path("api-keys/", iv.apikeys_list, name="apikeys"),
    path("api-keys/new/", iv.apikeys_new, name="apikeys_new"),
    path("api-keys/<int:key_id>/created/", iv.apikeys_created, name="apikeys_created"),
    path("api-keys/<int:key_id>/revoke/", iv.apikeys_revoke, name="apikeys_revoke"),
    path("api-keys/<int:key_id>/browser/", iv.apikeys_browser, name="apikeys_browser"),
    path("webhooks/", iv.webhooks_list, name="webhooks"),
    path("webhooks/new/", iv.webhooks_new, name="webhooks_new"),
    path("webhooks/<int:sub_id>/", iv.webhooks_edit, name="webhooks_edit"),
    path("webhooks/<int:sub_id>/active/", iv.webhooks_active, name="webhooks_active"),
    path("webhooks/<int:sub_id>/rotate/", iv.webhooks_rotate, name="webhooks_rotate"),
    path("webhooks/<int:sub_id>/secret/", iv.webhooks_secret, name="webhooks_secret"),
    path("webhooks/<int:sub_id>/deliveries/", iv.webhooks_deliveries, name="webhooks_deliveries"),
    path(
        "webhooks/<int:sub_id>/deliveries/<int:delivery_id>/redeliver/",
        iv.webhooks_redeliver,
        name="webhooks_redeliver",
    ),
]
