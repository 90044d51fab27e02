"""``/analytics-next/``: where analytics-next's standalone build looks for its chunks (its
webpack public path is ``<window.analytics._cdn>/analytics-next/bundles/``)."""

from django.urls import path

from leads.api import browser

urlpatterns = [
    path("bundles/<str:name>", browser.analytics_next_chunk, name="analytics-next-chunk"),
]
