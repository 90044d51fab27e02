"""``/demo/landing/``: the demo landing page (``capture.demo_views``; off in production)."""

from django.urls import path

from capture import demo_views

app_name = "capture_demo"
urlpatterns = [
    path("", demo_views.landing, name="landing"),
    path("pricing/", demo_views.pricing, name="pricing"),
]
