from leadflow.api.routers import SimpleRouter
from predictive.api.views import LeadPredictionViewSet, PredictiveModelViewSet

router = SimpleRouter()
router.register("predictive/models", PredictiveModelViewSet, basename="predictive-model")
router.register("predictive/leads", LeadPredictionViewSet, basename="predictive-lead")

urlpatterns = router.urls
