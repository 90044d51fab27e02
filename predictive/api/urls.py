from leadflow.api.routers import SimpleRouter
from predictive.api.views import LeadPredictionViewSet, PredictiveModelViewSet, TrainingRunViewSet

router = SimpleRouter()
router.register("predictive/models", PredictiveModelViewSet, basename="predictive-model")
router.register("predictive/leads", LeadPredictionViewSet, basename="predictive-lead")
router.register("predictive/training-runs", TrainingRunViewSet, basename="predictive-training-run")

urlpatterns = router.urls
