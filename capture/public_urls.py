"""What a visitor's browser calls: /f/… (embed script, form config, submit, iframe, confirm)."""

from django.urls import path

app_name = "capture_public"

urlpatterns: list = []
