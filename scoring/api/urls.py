from leadflow.api.routers import DefaultRouter
from scoring.api import views

router = DefaultRouter()
router.register("scoring/models", views.ScoringModelViewSet, basename="scoringmodel")
router.register("scoring/rules", views.ScoringRuleViewSet, basename="scoringrule")
router.register("scoring/runs", views.ScoringRunViewSet, basename="scoringrun")
router.register("scoring/breakdowns", views.LeadBreakdownViewSet, basename="scorebreakdown")

urlpatterns = router.urls
