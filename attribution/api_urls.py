from django.urls import URLPattern, URLResolver, path

from attribution.api import SpendView

urlpatterns: list[URLPattern | URLResolver] = [
    path("spend/", SpendView.as_view(), name="api-spend"),
]
