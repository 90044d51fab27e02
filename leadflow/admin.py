from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from leadflow.models import User, WorkerHeartbeat

admin.site.register(User, UserAdmin)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ("name", "seen_at")
