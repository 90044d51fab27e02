"""What a visitor's browser calls: /f/… (embed script, form config, submit, iframe, confirm)."""

from django.urls import path

from capture import embed_views

app_name = "capture_public"

urlpatterns: list = []

# --- embeds (capture-embed): the script tag, its config, the iframe page, view/start counts ---
urlpatterns += [
    path("embed.js", embed_views.embed_js, name="embed-js"),
    path("<str:public_id>/config", embed_views.config, name="config"),
    path("<str:public_id>/frame", embed_views.frame, name="frame"),
    path("<str:public_id>/event", embed_views.event, name="event"),
]
