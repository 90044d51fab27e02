"""What a visitor's browser calls: /f/… (embed script, form config, submit, iframe, confirm)."""

from django.urls import URLPattern, URLResolver, path

from capture import public_views

app_name = "capture_public"

urlpatterns: list[URLPattern | URLResolver] = [
    # --- core: submission and double opt-in (capture/public_views.py) ---
    path("confirm/<str:token>", public_views.confirm, name="confirm"),
    path("<str:public_id>/submit", public_views.submit, name="submit"),
    # --- end core ---
]
