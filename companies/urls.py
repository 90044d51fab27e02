"""Account pages: /companies/… (the word users see is "Accounts")."""

from django.urls import URLPattern, path

from companies import views

app_name = "companies"

urlpatterns: list[URLPattern] = [
    path("", views.account_list, name="list"),
    path("new/", views.account_new, name="new"),
    path("<int:account_id>/", views.account_detail, name="detail"),
    path("<int:account_id>/edit/", views.account_edit, name="edit"),
    path("<int:account_id>/timeline/", views.account_timeline, name="timeline"),
    path("<int:account_id>/merge/", views.account_merge, name="merge"),
    path("<int:account_id>/members/", views.member_add, name="member_add"),
    path("<int:account_id>/members/<int:lead_id>/role/", views.member_role, name="member_role"),
    path("lead/<int:lead_id>/", views.lead_account, name="lead_account"),
]
