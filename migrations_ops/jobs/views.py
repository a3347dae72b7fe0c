"""Job pages: a job with its live log, a release's jobs, and starting, cancelling, retrying.

Any member of the job's project may read a job and its log (others get 404), except the
output of a job that held production's rows, which only SREs and platform leads read
(``jobs.output``); starting, cancelling and retrying need the role the job's kind asks
for (403 otherwise).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from checklists.access import get_release_for_user
from migrations_ops.jobs import selectors
from migrations_ops.jobs.forms import JobStartForm
from migrations_ops.jobs.kinds import GATED_KINDS, PREFLIGHT_KINDS, action_for
from migrations_ops.jobs.output import WITHHELD, may_read_output, verdict
from migrations_ops.jobs.present import job_queued_message
from migrations_ops.jobs.results import present_job_result
from migrations_ops.jobs.scrub import scrub_data
from migrations_ops.jobs.services import (
    job_cancel,
    job_enqueue,
    job_retry,
    preflight_start,
    staging_target,
)
from migrations_ops.models import Job
from migrations_ops.projects.forms import field_problem
from release_portal.accounts.access import require
from release_portal.accounts.roles import Action, ProjectAccess, can
from release_portal.http import HtmxHttpRequest, error_text
from release_portal.routes import Routes

routes = Routes()

PANEL_JOBS = 20
LIST_JOBS = 500
HTTP_STOP_POLLING = 286  # htmx stops polling on this status (and still swaps the answer)


GATED_MESSAGE = (
    "apply and rollback jobs start from the release's deploy and rollback pages, "
    "which check the release gate first"
)


def _job_context(request: HtmxHttpRequest, job: Job) -> dict[str, Any]:
    access = ProjectAccess(request.user, job.project)
    may_act = can(request.user, action_for(job.kind), job.project)
    shown = may_read_output(request.user, job)
    result_template, result_view = present_job_result(job) if shown else (None, {})
    return {
        "job": job,
        "access": access,
        "may_cancel": may_act and job.is_active and job.cancel_requested_at is None,
        "may_retry": may_act and not job.is_active and job.kind not in GATED_KINDS,
        # What the job wrote, or (a job over production's rows, for someone who may not
        # read them) the portal's verdict and why the rest is not shown.
        "withheld": "" if shown else WITHHELD,
        "summary": job.summary if shown else verdict(job),
        "error": job.error if shown and job.error != job.summary else "",
        "raw_result": shown and bool(job.result),
        "result_template": result_template if shown and job.result else None,
        "result_view": result_view,
        "related": selectors.related_links(job),
    }


def _shown_lines(request: HtmxHttpRequest, job: Job, lines: list[Any]) -> list[Any]:
    """``lines`` if the reader may read ``job``'s output, else none (``jobs.output``)."""
    return lines if may_read_output(request.user, job) else []


@routes.path("jobs/<int:pk>/", name="job_detail")
@require_GET
def job_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = selectors.get_job_for_user(request.user, pk)
    lines, _ = selectors.log_lines_after(job, 0, limit=job.log_count + 10)
    context = _job_context(request, job)
    context.update(
        lines=_shown_lines(request, job, lines),
        last_seq=lines[-1]["seq"] if lines else 0,
        polling=job.is_active,
        oob=False,
    )
    return render(request, "migrations_ops/jobs/detail.html", context)


@routes.path("jobs/<int:pk>/result.json", name="job_result_json")
@require_GET
def job_result_json(request: HtmxHttpRequest, pk: int) -> JsonResponse:
    """The job's result as stored, for people who want the JSON (the page shows it
    readably): any member of the job's project, 404 otherwise; no server paths. A job
    over production's rows answers 403 to those who may not read its output."""
    job = selectors.get_job_for_user(request.user, pk)
    if not may_read_output(request.user, job):
        raise PermissionDenied(WITHHELD)
    body = {
        "job": job.pk,
        "kind": job.kind,
        "state": job.state,
        "ok": job.ok,
        "summary": job.summary,
        "result": scrub_data(job.result or {}),
    }
    response = JsonResponse(body, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'inline; filename="job-{job.pk}-{job.kind}.json"'
    return response


@routes.path("jobs/<int:pk>/log", name="job_log")
@require_GET
def job_log(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Lines after ``?after=<seq>`` as a fragment; status 286 once the job has ended."""
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after = 0
    job, lines, more = selectors.poll_for_user(request.user, pk, after)
    ended = not job.is_active and not more
    if ended:  # once per page: the final answer also brings the result and the buttons
        job = selectors.get_job_for_user(request.user, pk)
    context: dict[str, Any] = _job_context(request, job) if ended else {"job": job}
    context.update(
        lines=_shown_lines(request, job, lines),
        last_seq=lines[-1]["seq"] if lines else after,
        polling=not ended,
        ended=ended,
        oob=True,
    )
    response = render(request, "migrations_ops/jobs/detail.html#log_poll", context)
    if ended:
        response.status_code = HTTP_STOP_POLLING
    return response


def _require_job_action(request: HtmxHttpRequest, job: Job) -> None:
    require(request.user, action_for(job.kind), job.project)


@routes.path("jobs/<int:pk>/cancel", name="job_cancel")
@require_POST
def job_cancel_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = selectors.get_job_for_user(request.user, pk)
    _require_job_action(request, job)
    try:
        job = job_cancel(job=job, user=request.user)
    except ValidationError as e:
        messages.error(request, error_text(e))
    else:
        if job.is_active:
            messages.info(request, f"Cancel requested: {job} stops at its next check.")
        else:
            messages.success(request, f"{job} was cancelled.")
    return redirect("job_detail", pk=job.pk)


@routes.path("jobs/<int:pk>/retry", name="job_retry")
@require_POST
def job_retry_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = selectors.get_job_for_user(request.user, pk)
    _require_job_action(request, job)
    if job.kind in GATED_KINDS:
        raise PermissionDenied(GATED_MESSAGE)
    try:
        new = job_retry(job=job, user=request.user)
    except ValidationError as e:
        messages.error(request, error_text(e))
        return redirect("job_detail", pk=job.pk)
    job_queued_message(request, new, f"Queued {new} again (retry of #{job.pk}).")
    return redirect("job_detail", pk=new.pk)


NO_FILES_REASON = "Upload the release's migrations first: every check runs on them."


def _shown_on(request: HtmxHttpRequest) -> str:
    """The path of the page the panel is drawn on: this request's, or for an htmx form
    post the page that sent it."""
    if request.method == "GET":
        return request.path
    return urlsplit(request.htmx.current_url_abs_path or "").path if request.htmx else ""


def jobs_panel_context(
    request: HtmxHttpRequest,
    release: Any,
    *,
    form: JobStartForm | None = None,
    limit: int = PANEL_JOBS,
    files_count: int | None = None,
) -> dict[str, Any]:
    """What ``migrations_ops/jobs_panel.html#jobs_panel`` needs; the release page merges it
    (with the ``files_count`` it already read)."""
    jobs = selectors.release_jobs(release, limit=limit)
    form = form or JobStartForm(project=release.project, user=request.user)

    def blocked_reason() -> str:
        has_files = release.migration_files.exists() if files_count is None else files_count
        return "" if has_files else NO_FILES_REASON

    jobs_url = reverse("release_jobs", kwargs={"pk": release.pk})
    return {
        "release": release,
        # Read once, and only by the parts of the panel showing the forms (never by the
        # table's two-second refresh).
        "jobs_blocked_reason": SimpleLazyObject(blocked_reason),
        # The jobs page does not link to itself.
        "all_jobs_url": "" if _shown_on(request) == jobs_url else jobs_url,
        "panel_jobs": jobs,
        "panel_has_active": any(job.is_active for job in jobs),
        "panel_limit": limit,
        "start_form": form,
        "may_preflight": can(request.user, Action.RUN_CHECKS, release.project),
        # Which staging database "Run pre-flight" runs on (a choice when there are several).
        "preflight_targets": lambda: form.staging_targets,
        # Read when the panel shows them (the template calls it), never by the table's
        # two-second refresh.
        "preflight_marks": lambda: selectors.kind_marks(
            selectors.latest_jobs(release), PREFLIGHT_KINDS
        ),
        "panel_next": request.get_full_path() if request.method == "GET" else "",
    }


@routes.path("releases/<int:pk>/jobs/", name="release_jobs")
@require_GET
def release_jobs(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk)
    try:  # the panel's self-refresh asks for as many rows as it shows
        limit = min(LIST_JOBS, max(1, int(request.GET.get("limit", LIST_JOBS))))
    except ValueError:
        limit = LIST_JOBS
    context = jobs_panel_context(request, release, limit=limit)
    if request.htmx:
        response = render(request, "migrations_ops/jobs/panel.html#jobs_table", context)
        if not context["panel_has_active"]:
            # The last job just ended: pages showing the release refresh what jobs change
            # (evidence on the checklist, the release's state).
            response["HX-Trigger"] = "release-jobs-settled"
        return response
    return render(request, "migrations_ops/jobs/list.html", context)


def _after_start(
    request: HtmxHttpRequest,
    release: Any,
    message: str,
    level: int,
    form: JobStartForm | None = None,
) -> HttpResponse:
    if request.htmx:
        context = jobs_panel_context(request, release, form=form)
        context.update(panel_notice=message, panel_notice_level=messages.DEFAULT_TAGS[level])
        status = 400 if form is not None and form.errors else 200
        return render(request, "migrations_ops/jobs/panel.html#jobs_panel", context, status=status)
    messages.add_message(request, level, message)
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(reverse("release_jobs", kwargs={"pk": release.pk}))


def _started_message(jobs: list[Job]) -> tuple[str, int]:
    new = [job for job in jobs if not job.already_active]
    running = [f"#{job.pk}" for job in jobs if job.already_active]
    parts = []
    if new:
        # The target said, as the pre-flight picks one itself (the first staging target).
        on = {job.target.name for job in new if job.target is not None}
        where = f" on {on.pop()}" if len(on) == 1 else ""
        parts.append(f"Queued {', '.join(str(job) for job in new)}{where}.")
    if running:
        parts.append(f"already running: job {', '.join(running)}")
    return " ".join(parts), messages.SUCCESS if new else messages.INFO


@routes.path("releases/<int:pk>/jobs", name="release_job_start")
@require_POST
def release_job_start(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk)
    form = JobStartForm(request.POST, project=release.project, user=request.user)
    if not form.may_start_any:
        raise PermissionDenied("Your roles in this project do not allow starting jobs.")
    if not form.is_valid():
        if request.POST.get("kind") in GATED_KINDS:
            raise PermissionDenied(GATED_MESSAGE)
        if request.POST.get("kind") in Job.Kind.values:  # a kind this person may not start
            require(request.user, action_for(request.POST["kind"]), release.project)
        problem = field_problem(form, "target", "Choose a job to run.")
        return _after_start(request, release, problem, messages.ERROR, form)
    kind = form.cleaned_data["kind"]
    try:
        target = form.cleaned_data["target"] or staging_target(release.project)
        job = job_enqueue(
            kind=kind,
            project=release.project,
            release=release,
            target=target,
            created_by=request.user,
        )
    except ValidationError as e:
        return _after_start(request, release, error_text(e), messages.ERROR)
    return _after_start(request, release, *_started_message([job]))


@routes.path("releases/<int:pk>/preflight", name="release_preflight")
@require_POST
def release_preflight(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.RUN_CHECKS)
    chosen = request.POST.get("target", "")
    target = None
    if chosen:
        # Any of the project's targets is looked up; preflight_start says which may run it.
        target = release.project.targets.filter(pk=int(chosen) if chosen.isdigit() else 0).first()
        if target is None:
            return _after_start(
                request, release, "That target is not one of this project's: reload the page.",
                messages.ERROR,
            )  # fmt: skip
    try:
        jobs = preflight_start(release=release, user=request.user, target=target)
    except ValidationError as e:
        return _after_start(request, release, error_text(e), messages.ERROR)
    return _after_start(request, release, *_started_message(jobs))
