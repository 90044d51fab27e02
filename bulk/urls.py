from django.urls import path

from bulk import views

app_name = "bulk"
urlpatterns = [
    path("apply/", views.bulk_apply, name="apply"),
    path("<int:pk>/", views.bulk_job, name="job"),
    path("<int:pk>/outcomes.csv", views.bulk_outcomes_csv, name="outcomes_csv"),
    path("<int:pk>/<str:control>/", views.bulk_control, name="control"),
]
