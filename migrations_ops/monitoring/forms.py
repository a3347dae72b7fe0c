from __future__ import annotations

from django import forms

from migrations_ops.monitoring.models import HealthQuery
from migrations_ops.monitoring.sampling import HealthSqlError, check_health_sql


class CloseWindowForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the window ends now (it goes into the change log).",
    )


class HealthQueryForm(forms.Form):
    name = forms.CharField(max_length=80)
    sql = forms.CharField(
        label="SQL",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One SELECT returning a number; it runs read-only with a timeout of a few "
        "seconds.",
    )
    threshold = forms.FloatField()
    comparison = forms.ChoiceField(choices=HealthQuery.Comparison.choices, label="Alert when")
    delta = forms.BooleanField(required=False, label="Counter: compare the change per sample")
    enabled = forms.BooleanField(required=False, initial=True)

    def clean_sql(self) -> str:
        try:
            return check_health_sql(self.cleaned_data["sql"])
        except HealthSqlError as e:
            raise forms.ValidationError(str(e)) from None

    @classmethod
    def initial_for(cls, query: HealthQuery) -> dict[str, object]:
        return {f: getattr(query, f) for f in cls.base_fields}


class WindowSettingsForm(forms.Form):
    window_minutes = forms.IntegerField(
        min_value=1, max_value=24 * 60, label="Monitoring window (minutes)"
    )
