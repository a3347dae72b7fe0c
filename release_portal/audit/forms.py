"""The change log's filter: a plain GET form the page, its htmx swaps and the exports share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

# PostgreSQL's bigint: a larger number in ?before= would be a database error, not an empty page.
MAX_SEQ = 2**63 - 1


class AuditFilterForm(forms.Form):
    """Which events to show or export. Project choices are the projects the person belongs to."""

    project = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    release = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_SEQ, label="Release #",
        widget=forms.NumberInput(attrs={"placeholder": "any"}),
    )  # fmt: skip
    actor = forms.CharField(
        required=False, max_length=200, help_text="Name, exactly (any case)",
        widget=forms.TextInput(attrs={"placeholder": "anyone"}),
    )  # fmt: skip
    action = forms.CharField(
        required=False, max_length=80, help_text='Starts with, e.g. "item."',
        widget=forms.TextInput(attrs={"placeholder": "any"}),
    )  # fmt: skip
    since = forms.DateField(
        required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (UTC)", widget=forms.DateInput(attrs={"type": "date"})
    )
    # Keyset pagination: events older than `before`, or newer than `after` (a seq).
    before = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_SEQ, widget=forms.HiddenInput
    )
    after = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_SEQ, widget=forms.HiddenInput
    )

    # The fields that choose events (the rest choose a page of them).
    FILTER_FIELDS = ("project", "release", "actor", "action", "since", "until")

    def __init__(self, *args: Any, projects: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["project"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", "All my projects"), *((p.pk, p.name) for p in projects)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date comes before the start date.")
        if cleaned.get("before") is not None and cleaned.get("after") is not None:
            raise forms.ValidationError("Ask for older or for newer events, not both at once.")
        for name in ("actor", "action"):
            cleaned[name] = (cleaned.get(name) or "").strip()
        return cleaned

    def filter_values(self) -> dict[str, Any]:
        """The filter as plain values (for exports, their audit event and the query string)."""
        data = self.cleaned_data
        return {
            name: (data[name].isoformat() if hasattr(data.get(name), "isoformat") else data[name])
            for name in self.FILTER_FIELDS
            if data.get(name) not in (None, "")
        }
