from django.urls import path

from companies.api.views import AccountViewSet, LeadAccountView
from leadflow.api.routers import DefaultRouter

router = DefaultRouter()
router.register("accounts", AccountViewSet, basename="account")

urlpatterns = [
    # a lead's account lives here, not in leads/api/urls.py: `leads` imports no app above it
    path("leads/<int:lead_id>/account/", LeadAccountView.as_view(), name="lead-account"),
    *router.urls,
]
