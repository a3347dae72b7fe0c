"""Backups pages: the list (per target, filtered), a backup's detail, and the actions.

Everyone in the project reads; SREs and platform leads act (403 otherwise); other
projects are 404. Every action is a plain form POST; with htmx from the release page the
backups panel is swapped instead of redirecting.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from checklists.access import get_release_for_user
from migrations_ops.backups import selectors, services
from migrations_ops.backups.changelog import changelog_text
from migrations_ops.backups.forms import BackupFilterForm, CaptureForm, SnapshotForm
from migrations_ops.jobs.output import may_read_production_rows
from migrations_ops.models import BackupManifest, RollbackPlan
from migrations_ops.pg.sizes import size_text
from migrations_ops.projects.forms import field_problem
from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.roles import Action, ProjectAccess, can, visible_project_ids
from release_portal.http import HtmxHttpRequest, act, error_text, paged, render_page
from release_portal.routes import Routes

routes = Routes()

PANEL = "migrations_ops/backups/release_panel.html#backups_panel"


@routes.path("backups/", name="backup_list")
@require_GET
def backup_list(request: HtmxHttpRequest) -> HttpResponse:
    form = BackupFilterForm(request.GET or None, project_ids=visible_project_ids(request.user))
    context = {
        "form": form,
        **paged(request, selectors.backups_for_user(request.user, form.filters())),
    }
    backups = list(context["page"].object_list)
    protected = selectors.protected_ids(backups)
    context["rows"] = [{"backup": b, "protected": b.pk in protected} for b in backups]
    return render_page(request, "migrations_ops/backups/list.html", "backup_rows", context)


@routes.path("backups/<int:pk>/", name="backup_detail")
@require_GET
def backup_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    backup = selectors.get_backup_for_user(request.user, pk)
    return render(request, "migrations_ops/backups/detail.html", _detail_context(request, backup))


def _detail_context(request: HtmxHttpRequest, backup: BackupManifest, **extra: Any) -> dict:
    access = ProjectAccess(request.user, backup.project)
    return {
        "backup": backup,
        "access": access,
        "size": size_text(backup.size, exact=True),
        "protected": selectors.protected_reason(backup),
        "snapshot_form": extra.pop("snapshot_form", None) or SnapshotForm(),
        "plans": RollbackPlan.objects.filter(backup=backup).select_related("release")[:20],
        **extra,
    }


@routes.path("backups/<int:pk>/download", name="backup_download")
@require_GET
def backup_download(request: HtmxHttpRequest, pk: int) -> HttpResponseBase:
    backup = selectors.get_backup_for_user(request.user, pk, Action.DOWNLOAD_BACKUP)
    try:
        chunks, size, name = services.backup_download(
            backup=backup, user=request.user, manifest=request.GET.get("manifest") == "1"
        )
    except ValidationError as e:
        messages.error(request, error_text(e))
        return redirect("backup_detail", pk=backup.pk)
    response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Content-Length"] = str(size)
    response["X-Content-SHA256"] = backup.sha256 if not name.endswith(".json") else ""
    return response


def _back(request: HtmxHttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


def _notice(
    request: HtmxHttpRequest,
    text: str,
    level: int,
    status: int,
    *,
    panel_of: Any,
    back: str,
    **panel: Any,
) -> HttpResponse:
    """``text`` as the notice of the backups panel of the release ``panel_of`` (htmx from
    the release page), or as a message on the redirect to ``back`` (or the form's next)."""
    if panel_of is not None:
        context = backups_panel_context(request, panel_of, **panel)
        context.update(panel_notice=text, panel_notice_level=messages.DEFAULT_TAGS[level])
        return render(request, PANEL, context, status=status)
    messages.add_message(request, level, text)
    return _back(request, back)


def _answer(
    request: HtmxHttpRequest, backup: BackupManifest, text: str, level: int, status: int = 200
) -> HttpResponse:
    """The panel (htmx from the release page) or a redirect with a message."""
    from_panel = request.htmx and request.POST.get("panel")
    return _notice(
        request,
        text,
        level,
        status,
        panel_of=backup.release if from_panel else None,
        back=reverse("backup_detail", kwargs={"pk": backup.pk}),
    )


@routes.path("backups/<int:pk>/verify", name="backup_verify")
@require_POST
def backup_verify_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    backup = selectors.get_backup_for_user(request.user, pk, Action.MANAGE_BACKUPS)
    try:
        job = services.backup_verify(backup=backup, user=request.user)
    except ValidationError as e:
        return _answer(request, backup, error_text(e), messages.ERROR, 400)
    if job.already_active:
        return _answer(request, backup, f"already running: job #{job.pk}", messages.INFO)
    return _answer(request, backup, f"Queued {job}: the backup is restored and compared again.",
                   messages.SUCCESS)  # fmt: skip


@routes.path("backups/<int:pk>/delete", name="backup_delete")
@require_POST
def backup_delete_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    backup = selectors.get_backup_for_user(request.user, pk, Action.MANAGE_BACKUPS)
    return act(
        request,
        lambda: services.backup_delete(backup=backup, user=request.user),
        done=f"Deleted the files of {backup.file_name}; its record stays.",
        back=redirect("backup_detail", pk=backup.pk),
    )


@routes.path("backups/<int:pk>/snapshot", name="backup_snapshot")
@require_POST
def backup_snapshot_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    backup = selectors.get_backup_for_user(request.user, pk, Action.MANAGE_BACKUPS)
    form = SnapshotForm(request.POST)
    if not form.is_valid():
        return _answer(request, backup, "Give the dashboard backup's reference.", messages.ERROR,
                       400)  # fmt: skip
    try:
        services.backup_set_snapshot_ref(
            backup=backup, user=request.user, reference=form.cleaned_data["reference"]
        )
    except ValidationError as e:
        return _answer(request, backup, error_text(e), messages.ERROR, 400)
    return _answer(request, backup, "Logged the Supabase dashboard backup with this backup.",
                   messages.SUCCESS)  # fmt: skip


@routes.path("releases/<int:pk>/backups/capture", name="backup_capture")
@require_POST
def backup_capture_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.MANAGE_BACKUPS)
    form = CaptureForm(request.POST, project=release.project)
    text, level, status = "", messages.SUCCESS, 200
    if not form.is_valid():
        text = field_problem(form, "target", "Choose the target to back up.")
        level, status = messages.ERROR, 400
    else:
        try:
            job = services.backup_capture(
                release=release, target=form.cleaned_data["target"], user=request.user,
                snapshot_ref=form.cleaned_data["snapshot_ref"], fmt=form.cleaned_data["format"],
            )  # fmt: skip
        except ValidationError as e:
            text, level, status = error_text(e), messages.ERROR, 400
        else:
            text = (
                f"already running: job #{job.pk}" if job.already_active
                else f"Queued {job}: its restore check follows when it ends."
            )  # fmt: skip
            level = messages.INFO if job.already_active else messages.SUCCESS
    return _notice(
        request,
        text,
        level,
        status,
        panel_of=release if request.htmx else None,
        back=reverse("release_detail", kwargs={"pk": release.pk}),
        capture_form=form,
    )


@routes.path("projects/<slug:slug>/backups/CHANGELOG.md", name="backup_changelog")
@require_GET
def backup_changelog(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    findings = may_read_production_rows(request.user, project)
    response = HttpResponse(
        changelog_text(project, findings=findings), content_type="text/markdown; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-backups-CHANGELOG.md"'
    return response


def backups_panel_context(
    request: HtmxHttpRequest,
    release: Any,
    *,
    capture_form: CaptureForm | None = None,
    jobs: list[Any] | None = None,
    has_backups: bool = True,
    has_plan: bool = True,
) -> dict[str, Any]:
    """What ``migrations_ops/backups/release_panel.html#backups_panel`` needs. The release
    page passes the release's newest jobs it already read (a running backup is among them)."""
    backups = selectors.release_backups(release) if has_backups else []
    plan = (
        RollbackPlan.objects.filter(release=release).select_related("target", "backup").first()
        if has_plan
        else None
    )
    return {
        "release": release,
        "panel_backups": backups,  # the newest of each target
        # What proves the runbook's backup step: a verified backup of production.
        "panel_production_verified": any(
            b.verify_state == "passed" and b.target.kind == "production" for b in backups
        ),
        "panel_active": any(b.verify_job_id and b.verify_state == "pending" for b in backups)
        or (
            any(j.kind == "backup" and j.is_active for j in jobs)
            if jobs is not None
            else release.jobs.filter(kind="backup", state__in=["queued", "running"]).exists()
        ),
        "panel_plan": plan,
        "capture_form": capture_form or CaptureForm(project=release.project),
        "snapshot_form": SnapshotForm(),
        "may_manage_backups": can(request.user, Action.MANAGE_BACKUPS, release.project),
        "may_manage_rollbacks": can(request.user, Action.MANAGE_ROLLBACKS, release.project),
        "panel_next": request.get_full_path() if request.method == "GET" else "",
    }


@routes.path("releases/<int:pk>/backups/panel", name="backups_panel")
@require_GET
def release_backups_panel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk)
    if not request.htmx:  # the panel lives on the release page
        return redirect(reverse("release_detail", kwargs={"pk": release.pk}) + "#backups")
    return render(request, PANEL, backups_panel_context(request, release))
