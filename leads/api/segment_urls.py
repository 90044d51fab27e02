"""Segment-compatible endpoints, mounted at ``/v1/`` by ``leadflow/urls.py``."""

from django.urls import path

from leads.api import browser, segment

urlpatterns = [
    path("batch", segment.BatchView.as_view(), name="segment-batch"),
    path("track", segment.TrackView.as_view(), name="segment-track"),
    path("identify", segment.IdentifyView.as_view(), name="segment-identify"),
    path("page", segment.PageView.as_view(), name="segment-page"),
    path("screen", segment.ScreenView.as_view(), name="segment-screen"),
    path("group", segment.GroupView.as_view(), name="segment-group"),
    path("alias", segment.AliasView.as_view(), name="segment-alias"),
    # @segment/analytics-next posts to <apiHost>/<first letter of the type> (b: batching mode)
    path("b", segment.BatchView.as_view(), name="segment-batch-short"),
    path("t", segment.TrackView.as_view(), name="segment-track-short"),
    path("i", segment.IdentifyView.as_view(), name="segment-identify-short"),
    path("p", segment.PageView.as_view(), name="segment-page-short"),
    path("s", segment.ScreenView.as_view(), name="segment-screen-short"),
    path("g", segment.GroupView.as_view(), name="segment-group-short"),
    path("a", segment.AliasView.as_view(), name="segment-alias-short"),
    # what the browser SDKs configure themselves from (leads.api.browser)
    path(
        "projects/<str:write_key>/settings",
        browser.segment_settings,
        name="segment-settings",
    ),
    path("sourceConfig/", browser.rudderstack_source_config, name="rudderstack-source-config"),
    path("sourceConfig", browser.rudderstack_source_config),
]
