"""What a visitor's browser calls: /f/… (embed script, form config, submit, iframe, confirm)."""

from django.urls import URLPattern, URLResolver, path

from capture import embed_views, public_views

app_name = "capture_public"

urlpatterns: list[URLPattern | URLResolver] = [
    # submission and double opt-in (capture/public_views.py)
    path("confirm/<str:token>", public_views.confirm, name="confirm"),
    path("<str:public_id>/submit", public_views.submit, name="submit"),
    # embeds: the script tag, its config, the iframe page, view/start counts (embed_views.py)
    path("embed.js", embed_views.embed_js, name="embed-js"),
    path("<str:public_id>/config", embed_views.config, name="config"),
    path("<str:public_id>/frame", embed_views.frame, name="frame"),
    path("<str:public_id>/event", embed_views.event, name="event"),
]
