from leadflow.api.routers import DefaultRouter
from privacy.api import views

router = DefaultRouter()
router.register("privacy/imports", views.ImportJobViewSet, basename="import")
router.register("privacy/mappings", views.SavedMappingViewSet)
router.register("privacy/leads", views.PrivacyLeadViewSet, basename="privacy-lead")
router.register("privacy/duplicates", views.DuplicatePairViewSet, basename="duplicate")
router.register("privacy/merges", views.MergeViewSet, basename="merge")

urlpatterns = router.urls
