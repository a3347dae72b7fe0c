from __future__ import annotations

from django import forms

from release_portal.api.models import Scope


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=80,
        help_text="Who uses it, e.g. github-actions-main. It names CI in the change log.",
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.READ, Scope.REPORT],
    )
