from django.urls import path

from handover import views

app_name = "handover"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("<int:handover_id>/", views.handover_detail, name="detail"),
    path("<int:handover_id>/accept/", views.accept, name="accept"),
    path("<int:handover_id>/reject/", views.reject, name="reject"),
    path("leads/<int:lead_id>/qualify/", views.qualify, name="qualify"),
    path("leads/<int:lead_id>/panel/", views.lead_panel, name="lead_panel"),
    path("leads/<int:lead_id>/reassign/", views.lead_reassign, name="lead_reassign"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/bell/", views.bell, name="bell"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
]
