from django.urls import path

from scoring import views

app_name = "scoring"
urlpatterns = [
    path("", views.model_list, name="models"),
    path("models/<int:model_id>/", views.model_detail, name="model"),
    path("models/<int:model_id>/new-version/", views.model_new_version, name="new_version"),
    path("models/<int:model_id>/rules/", views.rule_add, name="rule_add"),
    path("models/<int:model_id>/dry-run/", views.model_dry_run, name="dry_run"),
    path("models/<int:model_id>/publish/", views.model_publish, name="publish"),
    path("rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("runs/<int:run_id>/", views.run_detail, name="run"),
    path("runs/<int:run_id>/leads/", views.run_leads, name="run_leads"),
    path("runs/<int:run_id>/leads.csv", views.run_leads_csv, name="run_leads_csv"),
    path("runs/<int:run_id>/cancel/", views.run_control, {"action": "cancel"}, name="run_cancel"),
    path("runs/<int:run_id>/resume/", views.run_control, {"action": "resume"}, name="run_resume"),
]
