"""Memberships in Django's admin, for operators (superusers): a project whose last platform
lead left is put right here. Every change made here is in the change log like one made on
the Members page (the admin's own history is not tamper-evident, and auditors never see it).
"""

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from release_portal.accounts.models import Membership
from release_portal.audit.services import audit_record


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "user__email"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A membership is one person's role in one project: to move it, add another.
        return ["user", "project"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = (
                Membership.objects.filter(pk=obj.pk).values_list("role", flat=True).first()
                if change
                else None
            )
            super().save_model(request, obj, form, change)
            who = obj.user.get_username()
            if not change:
                audit_record(actor=request.user, action="member.add", obj=obj,
                             project=obj.project_id,
                             data={"user": who, "email": obj.user.email, "role": obj.role,
                                   "new_account": False, "via": "admin"})  # fmt: skip
            elif before != obj.role:
                audit_record(actor=request.user, action="member.role_change", obj=obj,
                             project=obj.project_id,
                             data={"user": who, "before": before, "after": obj.role,
                                   "via": "admin"})  # fmt: skip

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        with transaction.atomic():
            audit_record(actor=request.user, action="member.remove", obj=obj,
                         project=obj.project_id,
                         data={"user": obj.user.get_username(), "role": obj.role,
                               "via": "admin"})  # fmt: skip
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        with transaction.atomic():
            for membership in queryset.select_related("user"):
                self.delete_model(request, membership)
