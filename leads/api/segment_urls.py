"""Segment-compatible endpoints, mounted at ``/v1/`` by ``leadflow/urls.py``."""

from django.urls import path

from leads.api import segment

urlpatterns = [
    path("batch", segment.BatchView.as_view(), name="segment-batch"),
    path("track", segment.TrackView.as_view(), name="segment-track"),
    path("identify", segment.IdentifyView.as_view(), name="segment-identify"),
    path("page", segment.PageView.as_view(), name="segment-page"),
    path("screen", segment.ScreenView.as_view(), name="segment-screen"),
    path("group", segment.GroupView.as_view(), name="segment-group"),
    path("alias", segment.AliasView.as_view(), name="segment-alias"),
]
