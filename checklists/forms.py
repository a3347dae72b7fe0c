from __future__ import annotations

from typing import Any

from django import forms

from checklists.models import Release
from release_portal.accounts.roles import RELEASE_OWNER_ROLES, Action, roles_by_project


class ReleaseForm(forms.Form):
    project: forms.ModelChoiceField = forms.ModelChoiceField(queryset=None, empty_label=None)
    title = forms.CharField(max_length=200)
    owner: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None,
        help_text="The person whose sign-off is the last gate.",
    )
    commit_sha = forms.CharField(
        label="Commit SHA",
        max_length=64,
        help_text="All 40 hexadecimal characters (git rev-parse HEAD).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    planned_for = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Planned for"
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from django.contrib.auth import get_user_model

        from migrations_ops.models import Project
        from release_portal.accounts.roles import ALLOWED

        allowed = ALLOWED[Action.CREATE_RELEASE]
        project_ids = [pid for pid, roles in roles_by_project(user).items() if roles & allowed]
        self.fields["project"].queryset = Project.objects.filter(pk__in=project_ids)  # type: ignore[attr-defined]
        self.fields["owner"].queryset = (  # type: ignore[attr-defined]
            get_user_model()
            .objects.filter(
                memberships__project_id__in=project_ids,
                # Owners are platform leads or release engineers (release_create checks
                # it for the chosen project).
                memberships__role__in=[r.value for r in RELEASE_OWNER_ROLES],
                is_active=True,
            )
            .distinct()
            .order_by("username")
        )
        self.fields["owner"].initial = user.pk


class MigrationsUploadForm(forms.Form):
    archive = forms.FileField(
        required=False,
        help_text="The supabase/ folder as .zip or .tar.gz (at most 50 MB).",
    )
    from_git = forms.BooleanField(required=False, label="Read from the project's git checkout")
    commit_sha = forms.CharField(
        required=False,
        label="Move to commit",
        max_length=64,
        help_text="Optional: a new commit (e.g. the merge commit on main). Leave empty to keep it.",
    )
    # The content digest the page showed: an upload over files someone else uploaded
    # since is refused, so a second tab never silently puts older files back.
    seen_content = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("archive") and not data.get("from_git"):
            raise forms.ValidationError("Choose an archive to upload, or read from git.")
        return data


class TickForm(forms.Form):
    revision = forms.IntegerField(widget=forms.HiddenInput)
    # The content digest the page showed: a tick of other migrations than those is refused.
    # Optional, for API-like clients that post without having read a page.
    seen_content = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    comment = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    link = forms.URLField(required=False, max_length=500, label="Evidence link")
    file = forms.FileField(required=False, label="Evidence file")


class ReasonForm(forms.Form):
    revision = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(max_length=5000)
    seen_content = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class SeenDigestField(forms.CharField):
    """The release digest the page showed, sent back with the form: what the person saw.
    A different digest at POST is refused with what changed since."""

    def __init__(self) -> None:
        super().__init__(widget=forms.HiddenInput, max_length=64, required=True)


class SignOffForm(forms.Form):
    seen_digest = SeenDigestField()
    kind = forms.ChoiceField(choices=[])
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Signing asks for your password again.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from checklists.models import SignOff

        self.fields["kind"].choices = SignOff.Kind.choices  # type: ignore[attr-defined]


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=1000)


class ReleaseFilterForm(forms.Form):
    project = forms.CharField(required=False)
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *Release.State.choices])
    owner = forms.CharField(required=False)
