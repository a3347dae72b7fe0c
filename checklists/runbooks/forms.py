"""Forms for the runbook pages: upload, a step's owner and evidence, publish notes."""

from __future__ import annotations

import re

from django import forms

from checklists.models import StepOwner
from checklists.runbooks.defaults import EVIDENCE_KIND_PATTERN, KNOWN_EVIDENCE_KINDS
from checklists.runbooks.parse import MAX_BYTES
from checklists.runbooks.services import NOTES_MAX


class RunbookUploadForm(forms.Form):
    file = forms.FileField(
        label="Runbook markdown",
        help_text="The runbook as a UTF-8 markdown file, at most 1 MB. It becomes a draft "
        "version you can review before publishing.",
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; a runbook may be at most {MAX_BYTES:,} "
                "bytes (1 MB)."
            )
        return upload.read()


EVIDENCE_HELP = (
    "Evidence kinds are separated by commas: job:<kind> (a portal job), ci:<name> (a CI "
    "report), link, file, runbook_lint, backup, snapshot_ref, rollback_plan. Known: "
    + ", ".join(KNOWN_EVIDENCE_KINDS)
    + "."
)


class RunbookStepForm(forms.Form):
    owner = forms.ChoiceField(choices=StepOwner.choices)
    # The kinds are explained once above the steps table (EVIDENCE_HELP), not per row.
    evidence_kinds = forms.CharField(required=False, max_length=400)
    requires_evidence = forms.BooleanField(required=False)

    def clean_evidence_kinds(self) -> list[str]:
        raw = self.cleaned_data.get("evidence_kinds", "")
        kinds: list[str] = []
        for kind in re.split(r"[,\s]+", raw.strip()):
            if not kind:
                continue
            if not EVIDENCE_KIND_PATTERN.match(kind):
                raise forms.ValidationError(
                    f"“{kind}” is not an evidence kind: use job:<kind>, ci:<name>, link, file, "
                    "runbook_lint, backup, snapshot_ref or rollback_plan."
                )
            if kind not in kinds:
                kinds.append(kind)
        return kinds


class RunbookPublishForm(forms.Form):
    notes = forms.CharField(
        label="What changed",
        max_length=NOTES_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Goes into the runbook's change log with today's UTC date and your name.",
    )
