from django.urls import path

from handover import account_pages, views

app_name = "handover"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("accounts/<int:handover_id>/accept/", account_pages.accept, name="account_accept"),
    path("accounts/<int:handover_id>/reject/", account_pages.reject, name="account_reject"),
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
