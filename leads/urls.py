from django.urls import path

from leads import views

app_name = "leads"
urlpatterns = [
    path("board/", views.board, name="board"),
    path("board/counts/", views.board_counts_view, name="board_counts"),
    path("board/column/<str:stage>/", views.board_column_page, name="board_column"),
    path("list/", views.lead_table, name="list"),
    path("search/", views.lead_search_page, name="search"),
    path("export.csv", views.lead_export, name="export"),
    path("views/", views.saved_view_create, name="saved_view_create"),
    path("views/<int:view_id>/delete/", views.saved_view_remove, name="saved_view_delete"),
    path("new/", views.lead_new, name="new"),
    path("<int:lead_id>/", views.lead_detail, name="detail"),
    path("<int:lead_id>/move/", views.lead_move, name="move"),
    path("<int:lead_id>/notes/", views.note_create, name="note_create"),
    path("<int:lead_id>/log/", views.interaction_create, name="interaction_create"),
    path("<int:lead_id>/tags/", views.lead_tags_change, name="tags"),
    path("<int:lead_id>/deal/", views.lead_deal_change, name="deal"),
    path("<int:lead_id>/wins/", views.lead_win_add, name="win_add"),
    path("<int:lead_id>/details/", views.lead_custom_change, name="custom"),
    path("tasks/", views.my_tasks, name="my_tasks"),
    path("tasks/<int:task_id>/complete/", views.my_task_complete, name="my_task_complete"),
    path("<int:lead_id>/tasks/", views.task_create, name="task_create"),
    path("<int:lead_id>/tasks/<int:task_id>/", views.task_toggle, name="task_toggle"),
]
