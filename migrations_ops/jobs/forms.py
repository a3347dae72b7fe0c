"""The "Run" form of the jobs panel: which kind, against which target."""

from __future__ import annotations

from functools import cached_property
from typing import Any, cast

from django import forms
from django.utils.functional import lazy

from migrations_ops.jobs.kinds import action_for, page_runnable_kinds
from migrations_ops.models import Project, Target
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
        # The default says which database it is, not only "staging"; read when the menu is.
        target.empty_label = lazy(self._default_label, str)()

    def _default_label(self) -> str:
        staging = self.staging_targets
        if not staging:
            return "Staging (default)"
        name = staging[0].name
        return f"{name} (default)" if name.lower() == "staging" else f"Staging: {name} (default)"

    def use_targets(self, targets: list[Target]) -> None:
        """Offer ``targets``, the project's, read once by a page for all its forms."""
        self.__dict__["staging_targets"] = self._staging(targets)
        cast(TargetChoiceField, self.fields["target"]).share(targets)

    @staticmethod
    def _staging(targets: Any) -> list[Target]:
        return sorted((t for t in targets if t.kind == Target.Kind.STAGING), key=lambda t: t.name)

    @cached_property
    def staging_targets(self) -> list[Target]:
        """The project's staging targets, the pre-flight's default first (by name); read
        with the Run form's targets, so the page asks once."""
        return self._staging(cast(forms.ModelChoiceField, self.fields["target"]).queryset or [])

    @property
    def may_start_any(self) -> bool:
        return bool(cast(forms.ChoiceField, self.fields["kind"]).choices)
