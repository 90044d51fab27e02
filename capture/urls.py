"""The marketer's pages: /capture/… (forms, their builder, submissions, rejections, analytics)."""

from django.urls import URLPattern, path

from capture import views

app_name = "capture"

urlpatterns: list[URLPattern] = [
    path("", views.form_list, name="list"),
    path("new/", views.form_new, name="new"),
    path("<int:form_id>/", views.form_settings, name="settings"),
    path("<int:form_id>/fields/", views.fields, name="fields"),
    path("<int:form_id>/fields/<int:field_id>/", views.field_edit, name="field_edit"),
    path("<int:form_id>/fields/<int:field_id>/delete/", views.field_delete, name="field_delete"),
    path("<int:form_id>/fields/<int:field_id>/move/", views.field_move, name="field_move"),
    path("<int:form_id>/consents/", views.consents, name="consents"),
    path("<int:form_id>/consents/<slug:key>/", views.consent_change, name="consent_change"),
    path("<int:form_id>/consents/<slug:key>/retire/", views.consent_retire, name="consent_retire"),
    path("<int:form_id>/embed/", views.embed, name="embed"),
    path("<int:form_id>/submissions/", views.submissions, name="submissions"),
    path("<int:form_id>/rejections/", views.rejections, name="rejections"),
    path("<int:form_id>/analytics/", views.form_analytics, name="analytics"),
]
