"""Forms for the rollback pages."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from migrations_ops.models import Project, RollbackPlan, Target
from migrations_ops.projects.forms import TargetChoiceField


class PlanForm(forms.Form):
    target = TargetChoiceField(empty_label=None)
    backup = forms.IntegerField(
        required=False, min_value=1, widget=forms.HiddenInput, label="Backup to restore"
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(TargetChoiceField, self.fields["target"]).offer(project)


class DatedFilterForm(forms.Form):
    """Project, target, release, state and a date range: the rollback and incident lists."""

    STATES: list[tuple[str, str]] = []
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, empty_label="All projects"
    )
    target = forms.ModelChoiceField(
        queryset=Target.objects.none(), required=False, empty_label="All targets"
    )
    release = forms.IntegerField(required=False, min_value=1, label="Release #")
    state = forms.ChoiceField(choices=[], required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, project_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.filter(pk__in=project_ids)  # type: ignore[attr-defined]
        self.fields["target"].queryset = Target.objects.filter(  # type: ignore[attr-defined]
            project__in=project_ids
        ).select_related("project")
        self.fields["target"].label_from_instance = lambda t: f"{t.project.name} / {t.name}"  # type: ignore[attr-defined]
        self.fields["state"].choices = [("", "All"), *self.STATES]  # type: ignore[attr-defined]

    def apply(self, rows: QuerySet[Any], *, date_field: str, state_field: str) -> QuerySet[Any]:
        if not self.is_valid():
            return rows
        data = self.cleaned_data
        if data.get("project"):
            rows = rows.filter(project=data["project"])
        if data.get("target"):
            rows = rows.filter(target=data["target"])
        if data.get("release"):
            rows = rows.filter(release=data["release"])
        if data.get("state"):
            rows = rows.filter(**{state_field: data["state"]})
        if data.get("since"):
            rows = rows.filter(**{f"{date_field}__gte": _start(data["since"])})
        if data.get("until"):
            rows = rows.filter(**{f"{date_field}__lt": _start(data["until"]) + timedelta(days=1)})
        return rows


def _start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


class RollbackFilterForm(DatedFilterForm):
    STATES = list(RollbackPlan.Rehearsal.choices)
