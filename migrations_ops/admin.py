"""Projects and their targets in Django's admin, for operators (superusers).

A project's settings and targets have their rules and their change-log events in
``migrations_ops.projects.services``, behind the project's *Settings and targets* page,
which its platform leads use. The admin shows them read-only with a link to that page,
so no second path skips a rule (which variables a target may name, what check commands
may be given) or the change log. What only the admin changes, a project's name and
description, goes through the same service and is audited (marked via admin). A new
project is made on the operators' page (its first lead invited, the runbook published,
audited); a project is never deleted here (its history stays). An operator who must act
in a project whose leads are gone appoints one under Memberships, in the change log too.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from migrations_ops.models import Project, Target
from migrations_ops.projects.services import (
    DETAILS_FIELDS,
    SETTINGS_FIELDS,
    TARGET_FIELDS,
    project_settings_update,
)

CHANGED_ON_THE_PORTAL = (
    "Changed by the project's platform leads on its Settings and targets page, where "
    "each change is checked and recorded in the change log."
)


def _settings_link(project: Project) -> str:
    return format_html(
        '<a href="{}">Settings and targets of {}</a><br>{}',
        reverse("project_settings", args=[project.slug]),
        project.name,
        CHANGED_ON_THE_PORTAL,
    )


class TargetInline(admin.TabularInline):
    """A project's targets as they are; added, changed and removed on the portal's page."""

    model = Target
    extra = 0
    readonly_fields = (*TARGET_FIELDS, "status")
    fields = readonly_fields
    can_delete = False

    @admin.display(description="Status")
    def status(self, target: Target) -> str:
        refusal = target.refusal
        return "enabled" if refusal is None else f"disabled: {refusal.short}"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "migrations_source", "created_at"]
    inlines = [TargetInline]
    fieldsets = [
        (None, {"fields": [*DETAILS_FIELDS, "slug", "created_at"]}),
        ("Settings and targets", {"fields": ["settings_page", *SETTINGS_FIELDS]}),
    ]

    @admin.display(description="Where they change")
    def settings_page(self, project: Project) -> str:
        return _settings_link(project)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The slug keys the project's URLs and its PORTAL_TARGET_VARS entry: fixed once made.
        return ["slug", "created_at", "settings_page", *SETTINGS_FIELDS]

    def add_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """A project is made with its first platform lead and runbook: the operators' page."""
        return HttpResponseRedirect(reverse("operator_project_new"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in DETAILS_FIELDS}
        project_settings_update(project=obj, values=values, user=request.user, via="admin")
        obj.refresh_from_db()
