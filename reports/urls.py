from django.urls import URLPattern, URLResolver, path

from reports import views

app_name = "reports"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.report_index, name="index"),
    path("team/", views.manager_home, name="manager_home"),
    path("<slug:slug>/", views.report_page, name="report"),
    path("<slug:slug>/export.csv", views.report_csv, name="csv"),
]
