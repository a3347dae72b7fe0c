"""Forms for the backups pages: list filters, capture, snapshot reference."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from migrations_ops.backups.selectors import BackupFilters
from migrations_ops.models import Project, Target
from migrations_ops.projects.forms import TargetChoiceField

STATES = [
    ("", "All kept"),
    ("verified", "Verified"),
    ("pending", "Not verified yet"),
    ("failed", "Verification failed"),
    ("deleted", "Deleted"),
]


class BackupFilterForm(forms.Form):
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, empty_label="All projects"
    )
    target = forms.ModelChoiceField(
        queryset=Target.objects.none(), required=False, empty_label="All targets"
    )
    release = forms.IntegerField(required=False, min_value=1, label="Release #")
    state = forms.ChoiceField(choices=STATES, required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, project_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.filter(pk__in=project_ids)  # type: ignore[attr-defined]
        self.fields["target"].queryset = (  # type: ignore[attr-defined]
            Target.objects.filter(project__in=project_ids).select_related("project")
        )
        self.fields["target"].label_from_instance = lambda t: f"{t.project.name} / {t.name}"  # type: ignore[attr-defined]

    def filters(self) -> BackupFilters:
        if not self.is_valid():
            return BackupFilters()
        data = self.cleaned_data
        return BackupFilters(
            project=data["project"].pk if data.get("project") else None,
            target=data["target"].pk if data.get("target") else None,
            release=data.get("release"),
            state=data.get("state") or "",
            since=data.get("since"),
            until=data.get("until"),
        )


class CaptureForm(forms.Form):
    target = TargetChoiceField(empty_label=None)
    snapshot_ref = forms.CharField(
        required=False,
        max_length=300,
        label="Supabase dashboard backup (optional)",
        help_text="The manual backup you made in Database → Backups, as the dashboard names it.",
    )
    format = forms.ChoiceField(
        choices=[("plain", "SQL script (psql)"), ("custom", "Custom (pg_restore)")],
        initial="plain",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        # Its own ids: the release page also holds the jobs panel's "target" field.
        kwargs.setdefault("auto_id", "capture-%s")
        super().__init__(*args, **kwargs)
        cast(TargetChoiceField, self.fields["target"]).offer(project)


class SnapshotForm(forms.Form):
    reference = forms.CharField(
        max_length=300,
        label="Supabase dashboard backup",
        help_text="The manual backup's reference as the dashboard shows it (runbook §5.1 step 1).",
    )
