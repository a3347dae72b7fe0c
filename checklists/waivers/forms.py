"""Forms of the waiver actions."""

from __future__ import annotations

from django import forms

from checklists.forms import SeenDigestField


class WaiverAskForm(forms.Form):
    seen_digest = SeenDigestField()
    reason = forms.CharField(min_length=10, max_length=5000)
    not_applicable = forms.BooleanField(
        required=False, label="The step does not apply to this release (not applicable)"
    )


class WaiverApproveForm(forms.Form):
    seen_digest = SeenDigestField()


class WaiverRevokeForm(forms.Form):
    reason = forms.CharField(max_length=5000)
