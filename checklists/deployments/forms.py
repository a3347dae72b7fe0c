"""Forms of the deployment pages: freeze windows and break-glass."""

from __future__ import annotations

from django import forms


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class FreezeWindowForm(forms.Form):
    starts_at = forms.DateTimeField(label="Starts (UTC)", widget=DateTimeLocal())
    ends_at = forms.DateTimeField(label="Ends (UTC)", widget=DateTimeLocal())
    reason = forms.CharField(max_length=300, help_text="Shown to CI when the gate says 409.")


class SeenDigestField(forms.CharField):
    """The release digest the page showed, sent back with the form: what the person saw."""

    def __init__(self) -> None:
        super().__init__(widget=forms.HiddenInput, max_length=64, required=True)


class BreakGlassForm(forms.Form):
    seen_digest = SeenDigestField()
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Why production must deploy without the checklist: it goes to the change "
        "log and to everyone notified.",
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Your password again.",
    )


class ConfirmForm(forms.Form):
    seen_digest = SeenDigestField()


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        help_text="What was checked after the break-glass deployment.",
    )
