"""Memberships in Django's admin, for operators (superusers): a project whose last platform
lead left is put right here. Every change made here is in the change log like one made on
the Members page (the admin's own history is not tamper-evident, and auditors never see it),
and the same rule holds: a project's last platform lead is never removed or given another
role (``accounts.services.refuse_last_lead``).
"""

from collections import Counter
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Role
from release_portal.accounts.services import refuse_deactivating_last_lead, refuse_last_lead
from release_portal.audit.services import audit_record


def _last_lead_refusal(memberships: Iterable[Membership]) -> str | None:
    """Why removing ``memberships`` together would leave a project without a platform
    lead, or None. Their project's leads stay locked until the caller's transaction ends."""
    leads = [m for m in memberships if m.role == Role.PLATFORM_LEAD]
    for project_id, removing in Counter(m.project_id for m in leads).items():
        names = ", ".join(
            sorted(m.user.get_username() for m in leads if m.project_id == project_id)
        )
        project = next(m.project for m in leads if m.project_id == project_id)
        try:
            refuse_last_lead(
                project_id,
                removing=removing,
                message=f"{project} would be left without a platform lead ({names}): give "
                "someone else the role Platform lead first.",
            )
        except ValidationError as e:
            return e.messages[0]
    return None


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "project", "role"]

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        current = self.instance
        if current.pk and current.role == Role.PLATFORM_LEAD and role != Role.PLATFORM_LEAD:
            refusal = _last_lead_refusal([current])
            if refusal:
                raise ValidationError(refusal)
        return role


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "user__email"]
    form = MembershipForm

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

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """What the delete page (one membership, or the bulk action) lists; a removal that
        would leave a project without a platform lead is listed as what blocks it."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        with transaction.atomic():
            refusal = _last_lead_refusal(list(objs))
        return deleted, counts, perms_needed, [*protected, refusal] if refusal else protected

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        with transaction.atomic():
            audit_record(actor=request.user, action="member.remove", obj=obj,
                         project=obj.project_id,
                         data={"user": obj.user.get_username(), "role": obj.role,
                               "via": "admin"})  # fmt: skip
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        with transaction.atomic():
            memberships = list(queryset.select_related("user", "project"))
            refusal = _last_lead_refusal(memberships)  # checked on the page; again, locked
            if refusal:
                raise ValidationError(refusal)
            for membership in memberships:
                self.delete_model(request, membership)


class PersonForm(UserChangeForm):
    def clean_is_active(self) -> bool:
        active = bool(self.cleaned_data.get("is_active"))
        if self.instance.pk and self.instance.is_active and not active:
            refuse_deactivating_last_lead(self.instance)
        return active


class PersonAdmin(UserAdmin):
    """People are deactivated (Active unticked), never deleted here: deleting someone would
    take their roles away with no event in the change log (and could leave a project
    without its platform lead), while the events that name them stay. A project's last
    active platform lead is not deactivated either."""

    form = PersonForm

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, PersonAdmin)
