from django.urls import path

from leadflow.api.routers import DefaultRouter
from leads.api.events import EventBatchView, EventView
from leads.api.views import LeadViewSet

router = DefaultRouter()
router.register("leads", LeadViewSet, basename="lead")

urlpatterns = [
    path("events/", EventView.as_view(), name="event-create"),
    path("events/batch/", EventBatchView.as_view(), name="event-batch"),
    *router.urls,
]
