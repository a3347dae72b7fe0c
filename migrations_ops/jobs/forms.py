"""The "Run" form of the jobs panel: which kind, against which target."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from migrations_ops.jobs.kinds import action_for, page_runnable_kinds
from migrations_ops.models import Project
from migrations_ops.projects.forms import TargetChoiceField
from release_portal.accounts.roles import can


class JobStartForm(forms.Form):
    kind = forms.ChoiceField(label="Job")
    target = TargetChoiceField(
        required=False,
        empty_label="Staging (default)",
        help_text="The database the job reads; most checks run against staging.",
    )

    def __init__(self, *args: Any, project: Project, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        kind = cast(forms.ChoiceField, self.fields["kind"])
        kind.choices = [
            (value, label)
            for value, label in page_runnable_kinds()
            if can(user, action_for(value), project)
        ]
        target = cast(forms.ModelChoiceField, self.fields["target"])
        target.queryset = project.targets.in_flow_order()

    @property
    def may_start_any(self) -> bool:
        return bool(cast(forms.ChoiceField, self.fields["kind"]).choices)
