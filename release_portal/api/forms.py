from __future__ import annotations

from datetime import timedelta

from django import forms

from release_portal.api.models import Scope
from release_portal.api.tokens import DEFAULT_LIFETIME

NO_EXPIRY = "never"
# Days a new token lives, as the tokens page offers them (GitHub's and GitLab's choices).
LIFETIMES = [
    ("7", "7 days"),
    ("30", "30 days"),
    ("60", "60 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    (NO_EXPIRY, "No expiry"),
]


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
    lifetime = forms.ChoiceField(
        label="Expires after",
        choices=LIFETIMES,
        initial=str(DEFAULT_LIFETIME.days),
        # A form sent without it (a script) gets the default, as the page preselects it.
        required=False,
        help_text="CI gets 401 once it expires. A token without expiry must be rotated by hand.",
    )

    def clean_lifetime(self) -> timedelta | None:
        """The lifetime as a duration; None for no expiry."""
        chosen = self.cleaned_data.get("lifetime") or str(DEFAULT_LIFETIME.days)
        return None if chosen == NO_EXPIRY else timedelta(days=int(chosen))
