from django.urls import URLPattern, URLResolver, path

from configure import views

app_name = "configure"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
]
