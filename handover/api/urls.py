from handover.api import views
from leadflow.api.routers import DefaultRouter

router = DefaultRouter()
router.register("handovers", views.HandoverViewSet, basename="handover")
router.register("account-handovers", views.AccountHandoverViewSet, basename="accounthandover")
router.register("notifications", views.NotificationViewSet, basename="notification")
router.register("handover/rejection-reasons", views.RejectionReasonViewSet)
router.register("handover/exit-reasons", views.ExitReasonViewSet)
router.register("handover/frameworks", views.FrameworkViewSet)
router.register("handover/checklists", views.ChecklistViewSet, basename="checklist")
router.register("handover/calendars", views.CalendarViewSet)
router.register("handover/sla-policies", views.SlaPolicyViewSet)
router.register("handover/sla-timers", views.SlaTimerViewSet, basename="slatimer")
router.register("handover/assignment-rules", views.AssignmentRuleViewSet)
router.register("handover/assignment-members", views.AssignmentMemberViewSet)
router.register("handover/out-of-office", views.OutOfOfficeViewSet, basename="outofoffice")
router.register("webhooks/subscriptions", views.WebhookSubscriptionViewSet)
router.register("webhooks/deliveries", views.DeliveryViewSet, basename="delivery")

urlpatterns = router.urls
