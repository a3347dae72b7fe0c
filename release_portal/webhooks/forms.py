from __future__ import annotations

from django import forms

from release_portal.webhooks.events import EVENTS
from release_portal.webhooks.models import Webhook

# Opt-in: the change log's checkpoints and its event stream are for archives and SIEMs,
# not for the chat channel a new webhook usually is.
NOT_BY_DEFAULT = frozenset({"audit.checkpoint", "audit.events"})


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=80)
    url = forms.URLField(
        max_length=500,
        label="URL",
        assume_scheme="https",
        help_text="Where the portal POSTs. Redirects are not followed.",
    )
    events = forms.MultipleChoiceField(
        choices=list(EVENTS.items()),
        widget=forms.CheckboxSelectMultiple,
        initial=[event for event in EVENTS if event not in NOT_BY_DEFAULT],
    )
    format = forms.ChoiceField(choices=Webhook.Format.choices, initial=Webhook.Format.JSON)
    enabled = forms.BooleanField(required=False, initial=True)

    @classmethod
    def initial_for(cls, webhook: Webhook) -> dict[str, object]:
        return {
            "name": webhook.name,
            "url": webhook.url,
            "events": list(webhook.events),
            "format": webhook.format,
            "enabled": webhook.enabled,
        }
