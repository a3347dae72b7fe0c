"""The change log's filter: a plain GET form the page, its htmx swaps and the exports share."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django import forms

from release_portal.audit import registry

# PostgreSQL's bigint: a larger number in ?before= would be a database error, not an empty page.
MAX_SEQ = 2**63 - 1
OBJECT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,59}:[^\s]{1,64}$")
ACTION_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]*)*\*?$")


class AuditFilterForm(forms.Form):
    """Which events to show or export. Project and release choices are the person's own."""

    project = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    release = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    action = forms.CharField(
        required=False, max_length=80, label="Event type",
        widget=forms.Select(),
    )  # fmt: skip
    actor = forms.CharField(
        required=False, max_length=200, label="Person", help_text="Name, exactly (any case)",
        widget=forms.TextInput(attrs={"placeholder": "anyone", "list": "audit-people"}),
    )  # fmt: skip
    since = forms.DateField(
        required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    hide_system = forms.BooleanField(required=False, label="Hide worker and system events")
    # One object's history (an item, a job...): ``ChecklistItem:42``, set by the page's links.
    object = forms.CharField(
        required=False, max_length=130, label="History of", widget=forms.HiddenInput
    )
    # Keyset pagination: events older than `before`, or newer than `after` (a seq).
    before = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_SEQ, label="Page (events before #)",
        widget=forms.HiddenInput,
    )  # fmt: skip
    after = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_SEQ, label="Page (events after #)",
        widget=forms.HiddenInput,
    )  # fmt: skip

    # The fields that choose events (the rest choose a page of them).
    FILTER_FIELDS = (
        "project", "release", "action", "actor", "object", "hide_system", "since", "until",
    )  # fmt: skip

    def __init__(
        self,
        *args: Any,
        projects: Sequence[Any] = (),
        releases: Sequence[tuple[int, str, int]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        project_field = self.fields["project"]
        assert isinstance(project_field, forms.TypedChoiceField)
        project_field.choices = [("", "All my projects"), *((p.pk, p.name) for p in projects)]
        # The release picker: the person's releases, grouped by project, newest first.
        names = {p.pk: p.name for p in projects}
        grouped: dict[int, list[tuple[int, str]]] = {}
        for release_id, label, project_id in releases:
            grouped.setdefault(project_id, []).append((release_id, label))
        release_field = self.fields["release"]
        assert isinstance(release_field, forms.TypedChoiceField)
        release_field.choices = [
            ("", "Any release"),
            *((names.get(pid, f"Project {pid}"), options) for pid, options in grouped.items()),
        ]
        action_widget = self.fields["action"].widget
        assert isinstance(action_widget, forms.Select)
        action_widget.choices = [("", "Any event"), *registry.event_type_choices()]

    def clean_action(self) -> str:
        action = (self.cleaned_data.get("action") or "").strip()
        if action and not ACTION_RE.match(action):
            raise forms.ValidationError(
                'An event type is an action like "item.tick", or "item.*" for a whole family.'
            )
        return action

    def clean_object(self) -> str:
        value = (self.cleaned_data.get("object") or "").strip()
        if value and not OBJECT_RE.match(value):
            raise forms.ValidationError('An object is written "Type:id", e.g. "ChecklistItem:42".')
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date comes before the start date.")
        if cleaned.get("before") is not None and cleaned.get("after") is not None:
            raise forms.ValidationError("Ask for older or for newer events, not both at once.")
        cleaned["actor"] = (cleaned.get("actor") or "").strip()
        return cleaned

    def error_lines(self) -> list[str]:
        """Each error as a person reads it, after the field's label ("To (UTC): ..."), never
        the name it has in the URL; the page and the exports say them alike."""
        lines = []
        for name, errors in self.errors.items():
            label = self[name].label if name in self.fields else ""
            lines += [f"{label}: {error}" if label else str(error) for error in errors]
        return lines

    def filter_values(self) -> dict[str, Any]:
        """The filter as plain values (for exports, their audit event and the query string)."""
        data = self.cleaned_data
        return {
            name: (data[name].isoformat() if hasattr(data.get(name), "isoformat") else data[name])
            for name in self.FILTER_FIELDS
            if data.get(name) not in (None, "", False)
        }
