from django.urls import path

from leadflow.api.routers import DefaultRouter
from scoring.api import views

router = DefaultRouter()
router.register("scoring/models", views.ScoringModelViewSet, basename="scoringmodel")
router.register("scoring/rules", views.ScoringRuleViewSet, basename="scoringrule")
router.register("scoring/runs", views.ScoringRunViewSet, basename="scoringrun")
router.register("scoring/breakdowns", views.LeadBreakdownViewSet, basename="scorebreakdown")

urlpatterns = [
    # an account's score: under the account, but here (companies imports no scoring); no
    # route of companies/api/urls.py (the accounts router: list, detail, members, merge) has it
    path(
        "accounts/<int:account_id>/score/", views.AccountScoreView.as_view(), name="account-score"
    ),
    *router.urls,
]
