from django.urls import URLPattern, URLResolver, path

from attribution.api import ChannelRuleViewSet, LeadTouchesView, SpendView
from leadflow.api.routers import DefaultRouter

router = DefaultRouter()
router.register("channel-rules", ChannelRuleViewSet, basename="channelrule")

urlpatterns: list[URLPattern | URLResolver] = [
    path("spend/", SpendView.as_view(), name="api-spend"),
    # a lead's touches live here, not in leads/api/urls.py: `leads` imports no app above it
    path("leads/<int:lead_id>/touches/", LeadTouchesView.as_view(), name="lead-touches"),
    *router.urls,
]
