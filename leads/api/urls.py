from django.urls import path

from leadflow.api.routers import DefaultRouter
from leads.api.events import EventBatchView, EventView
from leads.api.rates import ExchangeRateViewSet
from leads.api.views import LeadViewSet

router = DefaultRouter()
router.register("leads", LeadViewSet, basename="lead")
router.register("exchange-rates", ExchangeRateViewSet, basename="exchangerate")

urlpatterns = [
    path("events/", EventView.as_view(), name="event-create"),
    path("events/batch/", EventBatchView.as_view(), name="event-batch"),
    *router.urls,
]
