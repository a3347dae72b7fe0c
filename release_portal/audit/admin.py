from django.contrib import admin
from django.http import HttpRequest

from release_portal.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the change log is append-only, in the admin as in the database."""

    list_display = ["seq", "at", "actor_name", "action", "object_type", "object_id", "release_id"]
    list_filter = ["action", "actor_kind"]
    search_fields = ["actor_name", "action", "object_repr"]
    ordering = ["-seq"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
