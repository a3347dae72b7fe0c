"""Starting an apply job from the release page: ``POST /releases/<pk>/apply``.

Form fields: ``target`` (a Target's id in the release's project), optional
``include_all`` ("on" applies files older than the newest applied one, like
``--include-all``). Needs DEPLOY (403 otherwise; 404 for other projects). Production is
refused while the release gate is closed, with the gate's reasons as the message.
Without htmx it redirects to the job's page (or back to the release with the refusal).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from checklists.access import get_release_for_user
from checklists.deployments.apply import apply_start
from migrations_ops.models import Project, Target
from migrations_ops.projects.forms import TargetChoiceField, field_problem
from release_portal.accounts.roles import Action
from release_portal.http import HtmxHttpRequest


class ApplyForm(forms.Form):
    target = TargetChoiceField(empty_label=None)
    include_all = forms.BooleanField(
        required=False, label="Include files older than the newest applied (--include-all)"
    )

    def __init__(self, data: Any = None, *, project: Project, **kwargs: Any) -> None:
        # Its own ids: the release page holds other forms with a "target" field.
        kwargs.setdefault("auto_id", "apply-%s")
        super().__init__(data, **kwargs)
        field = self.fields["target"]
        assert isinstance(field, TargetChoiceField)
        field.queryset = Target.objects.filter(project=project)


@require_POST
def release_apply(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.DEPLOY)
    form = ApplyForm(request.POST, project=release.project)
    if not form.is_valid():
        problem = field_problem(form, "target", "Choose one of the project's targets to apply to.")
        messages.error(request, problem)
        return redirect("release_detail", pk=release.pk)
    target = form.cleaned_data["target"]
    try:
        job = apply_start(
            release=release,
            target=target,
            user=request.user,
            include_all=form.cleaned_data["include_all"],
        )
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("release_detail", pk=release.pk)
    if job.already_active:
        messages.info(request, f"Already applying to {target.name}: {job}.")
    else:
        messages.success(request, f"Applying the pending migrations to {target.name}: {job}.")
    return redirect("job_detail", pk=job.pk)
