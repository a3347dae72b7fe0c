"""Forms for the incident pages."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from migrations_ops.models import Incident, Project
from migrations_ops.projects.forms import TargetChoiceField
from migrations_ops.rollback.forms import DatedFilterForm


class IncidentOpenForm(forms.Form):
    # An incident is a record: it may be opened on a disabled target (shown as such);
    # whatever would connect to it refuses on its own.
    target = TargetChoiceField(empty_label=None, refuse_disabled=False)
    title = forms.CharField(max_length=200)
    trigger = forms.ChoiceField(choices=Incident.Trigger.choices)
    error_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 5}), label="Error (paste it)"
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(TargetChoiceField, self.fields["target"]).offer(project)


class AssessForm(forms.Form):
    error_text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))


class PlanChoiceForm(forms.Form):
    plan = forms.IntegerField(required=False, min_value=1)


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Status update")


class CloseForm(forms.Form):
    postmortem_url = forms.CharField(max_length=500, label="Postmortem link")


class IncidentFilterForm(DatedFilterForm):
    STATES = list(Incident.State.choices)
