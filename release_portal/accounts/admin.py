"""Memberships in Django's admin, for operators (superusers): a project whose last platform
lead left is put right here. Every change goes through ``accounts.services``, as on the
Members page: the same rules (a project's last platform lead is never removed or given
another role; nobody changes their own role) and the same change-log events, marked
``"via": "admin"`` (the admin's own history is not tamper-evident, and auditors never see it).
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

from release_portal.accounts.lifecycle import account_changes_by
from release_portal.accounts.models import Membership
from release_portal.accounts.roles import Role
from release_portal.accounts.services import (
    membership_add,
    membership_change_role,
    membership_remove,
    refuse_deactivating_last_lead,
    refuse_last_lead,
    refuse_role_change,
)

VIA = "admin"


def _leaderless(project: Any, names: str) -> str:
    return (
        f"{project} would be left without a platform lead ({names}): give someone else "
        "the role Platform lead first."
    )


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
            refuse_last_lead(project_id, removing=removing, message=_leaderless(project, names))
        except ValidationError as e:
            return e.messages[0]
    return None


class MembershipForm(forms.ModelForm):
    # The operator making the change: MembershipAdmin.get_form sets it.
    changed_by: Any = None

    class Meta:
        model = Membership
        fields = ["user", "project", "role"]

    def clean_role(self) -> str:
        """A role change the service would refuse is refused here, as a form error. The
        row is locked as the service locks it: the admin saves in this same transaction,
        so the service's own check sees what was checked here and never raises in
        save_model."""
        role = self.cleaned_data["role"]
        if self.instance.pk and "role" in self.changed_data:
            current = (
                Membership.objects.select_for_update(of=("self",))
                .select_related("user", "project")
                .get(pk=self.instance.pk)
            )
            refuse_role_change(
                current,
                role,
                self.changed_by,
                own_role="You cannot change your own role, in the admin either: another "
                f"operator or a platform lead of {current.project} can.",
                last_lead=_leaderless(current.project, current.user.get_username()),
            )
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

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        """The form, knowing who changes the role (the service's refusals depend on it)."""
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"changed_by": request.user})

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        """The services write the row and its event; ``obj``, which the admin goes on with
        (its history, its redirect), becomes the row they wrote."""
        if not change:
            made = membership_add(user=obj.user, project=obj.project, role=obj.role,
                                  added_by=request.user, via=VIA)  # fmt: skip
            obj.pk, obj.created_at = made.pk, made.created_at
            obj._state.adding = False
        elif "role" in form.changed_data:  # nothing else may change here
            membership_change_role(membership=obj, role=obj.role, changed_by=request.user, via=VIA)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """What the delete page (one membership, or the bulk action) lists; a removal that
        would leave a project without a platform lead is listed as what blocks it."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        with transaction.atomic():
            refusal = _last_lead_refusal(list(objs))
        return deleted, counts, perms_needed, [*protected, refusal] if refusal else protected

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(membership=obj, removed_by=request.user, via=VIA)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        """Each goes through the service, after one check for all of them together: one by
        one, the service would notice a project's last lead only part-way through."""
        with transaction.atomic():
            memberships = list(queryset.select_related("user", "project"))
            refusal = _last_lead_refusal(memberships)  # checked on the page; again, locked
            if refusal:
                raise ValidationError(refusal)
            for membership in memberships:
                membership_remove(membership=membership, removed_by=request.user, via=VIA)


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
    active platform lead is not deactivated either. A deactivated person's API tokens stop
    working (``accounts.signals.sign_in_ended``)."""

    form = PersonForm

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Saved as the operator's change: unticking Active ends the person's sign-in
        (``accounts.lifecycle``), and what follows from it is recorded as theirs."""
        with account_changes_by(request.user):
            super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, PersonAdmin)
