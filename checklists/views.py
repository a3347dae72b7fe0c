"""Release pages: list, create, the release page, ticking, sign-off, migrations upload.

Every action is a plain form POST that works without JavaScript (redirect back with a
message); with htmx the response is the changed fragment, plus out-of-band updates of
the parts of the page that depend on it.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, cast

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checklists import rules, selectors
from checklists.access import get_release_for_user
from checklists.bundles import MAX_ARCHIVE_BYTES, BundleError, nothing_stored
from checklists.deployments.gate import gate_status, open_followups
from checklists.deployments.views import ApplyForm
from checklists.forms import (
    CancelForm,
    MigrationsUploadForm,
    ReasonForm,
    ReleaseFilterForm,
    ReleaseForm,
    SignOffForm,
    TickForm,
)
from checklists.models import ChecklistItem, Release, SignOff
from checklists.services import items as item_services
from checklists.services.errors import ChangedSinceOpened, ChecklistError
from checklists.services.migrations import release_read_git, release_upload_archive
from checklists.services.releases import release_cancel, release_create
from checklists.services.signoffs import signoff_give
from migrations_ops.backups.views import backups_panel_context
from migrations_ops.jobs.kinds import PREFLIGHT_KINDS
from migrations_ops.jobs.selectors import kind_marks, latest_jobs, target_marks
from migrations_ops.jobs.views import jobs_panel_context
from migrations_ops.models import Job
from migrations_ops.monitoring.views import monitoring_panel_context
from migrations_ops.projects.forms import TargetChoiceField
from release_portal.accounts.roles import Action, ProjectAccess, roles_in, visible_project_ids
from release_portal.http import HtmxHttpRequest, error_text
from release_portal.routes import Routes

routes = Routes()

PAGE_SIZE = 25


@routes.path("releases/", name="release_list")
@require_GET
def release_list(request: HtmxHttpRequest) -> HttpResponse:
    form = ReleaseFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    queryset = selectors.releases_for_user(
        request.user,
        project=filters.get("project", ""),
        state=filters.get("state", ""),
        owner=filters.get("owner", ""),
    )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = selectors.with_progress(list(page.object_list))
    from migrations_ops.models import Project

    context = {
        "form": form,
        "page": page,
        "projects": Project.objects.filter(pk__in=visible_project_ids(request.user)),
        "states": Release.State.choices,
        "query": request.GET.urlencode(),
        "can_create": _can_create_anywhere(request.user),
    }
    template = "checklists/releases/list.html"
    if request.htmx:
        template += "#release_table"
    return render(request, template, context)


def _can_create_anywhere(user: Any) -> bool:
    from release_portal.accounts.roles import ALLOWED, roles_by_project

    return any(r & ALLOWED[Action.CREATE_RELEASE] for r in roles_by_project(user).values())


@routes.path("releases/new", name="release_new")
@require_http_methods(["GET", "POST"])
def release_new(request: HtmxHttpRequest) -> HttpResponse:
    if not _can_create_anywhere(request.user):
        raise PermissionDenied("Only platform leads and release engineers create releases.")
    form = ReleaseForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            release = release_create(
                project=data["project"],
                title=data["title"],
                owner=data["owner"],
                commit_sha=data["commit_sha"],
                planned_for=data["planned_for"],
                created_by=request.user,
            )
        except ChecklistError as e:
            form.add_error(None, error_text(e))
        else:
            messages.success(request, "Release created. Next: upload its migrations.")
            return redirect("release_detail", pk=release.pk)
    status = 400 if form.errors else 200
    return render(request, "checklists/releases/new.html", {"form": form}, status=status)


# A fragment made for its htmx target: portal.js swaps it in place even on a 4xx answer
# (a form with its error); any other error answer shows as a message, never a document.
FRAGMENT_HEADER = "X-Portal-Fragment"
RELEASE_CHANGED = "release-changed"


def _fragment(response: HttpResponse, *, changed: bool = False) -> HttpResponse:
    response[FRAGMENT_HEADER] = "1"
    if changed:
        # Every panel of the release page listens: one truth after each change.
        response["HX-Trigger"] = RELEASE_CHANGED
    return response


def _signoff_rows(request: HtmxHttpRequest, release: Release, data: Any) -> list[dict[str, Any]]:
    by_kind = {s.kind: s for s in data.signoffs}
    rows = []
    for kind in data.required_signoffs:
        signoff = by_kind.get(kind)
        rows.append(
            {
                "kind": kind,
                "label": SignOff.Kind(kind).label,
                "signoff": signoff,
                "may_sign": rules.can_sign_as(request.user, release, kind)
                and not (signoff is not None and signoff.is_current),
            }
        )
    return rows


def _page_context(request: HtmxHttpRequest, release: Release) -> dict[str, Any]:
    data = selectors.release_page(release)
    access = ProjectAccess(request.user, release.project)
    for item in data.items:
        item.may_tick = rules.can_tick(request.user, item)  # type: ignore[attr-defined]
    return {
        "release": release,
        "page": data,
        "access": access,
        "open_for_changes": release.state in rules.OPEN_FOR_CHANGES,
        "upload_form": MigrationsUploadForm(initial={"seen_content": release.content_digest}),
        "signoff_rows": _signoff_rows(request, release, data),
        "revision": getattr(release, "revision", 0),
        "may_approve_waivers": {
            w.pk: rules.can_approve_waiver(request.user, release, w.asked_by_id)
            for w in data.pending_waivers
        },
        # Where "what changed" links to: the release's files card (a refusal whose files
        # changed links the line diff instead, see changed_since_page).
        "what_changed_url": reverse("release_detail", kwargs={"pk": release.pk}) + "#files",
    }


def _detail_context(request: HtmxHttpRequest, release: Release) -> dict[str, Any]:
    context = _page_context(request, release)
    data = context["page"]
    known = release.__dict__  # the has_* flags of selectors.release_for_page
    context.update(jobs_panel_context(request, release, files_count=data.files_count))
    jobs = context["panel_jobs"]
    followups = open_followups(release) if known.get("has_open_override", True) else []
    gate = gate_status(
        release,
        items=data.items,
        signoffs=data.signoffs,
        open_overrides=followups,
        may_have_freeze=known.get("has_freeze", True),
        may_have_review=known.get("has_peer_review", True),
        files_count=data.files_count,
    )
    context.update(gate=gate, followups=followups)
    context.update(
        backups_panel_context(
            request,
            release,
            jobs=jobs,
            has_backups=known.get("has_backups", True),
            has_plan=known.get("has_rollback_plan", True),
        )
    )
    context.update(
        monitoring_panel_context(
            request, release, has_window=known.get("has_monitoring_window", True)
        )
    )
    # The project's targets, read once (by the backup form) for every target field.
    targets = list(context["capture_form"].fields["target"].queryset)
    apply_form = ApplyForm(project=release.project)
    cast(TargetChoiceField, apply_form.fields["target"]).share(targets, first="Choose a target…")
    cast(TargetChoiceField, context["capture_form"].fields["target"]).share(targets)
    by_kind = sorted(targets, key=lambda t: (t.kind, t.name))
    context["start_form"].use_targets(by_kind)
    context["apply_form"] = apply_form
    if not data.files_count:
        context["backup_blocked_reason"] = (
            "Upload the release's migrations first: a backup belongs to the release it protects."
        )
    latest = latest_jobs(release)
    context["preflight_marks"] = kind_marks(latest, PREFLIGHT_KINDS)
    context["apply_marks"] = target_marks(latest, Job.Kind.APPLY)
    context["steps_done"] = {
        "upload": bool(data.files_count),
        "preflight": all(m.done for m in context["preflight_marks"]),
        "checklist": not data.open_count,
        "backup": bool(context.get("panel_production_verified")),
        "signoff": bool(context["signoff_rows"])
        and all(
            r["signoff"] is not None and r["signoff"].is_current for r in context["signoff_rows"]
        ),
        "gate": gate.open,
        "apply": any(m.done and m.target_kind == "production" for m in context["apply_marks"]),
    }
    return context


# The rendered panels are cached per release revision and reader (see page_cache_key):
# a change anywhere in the project moves the key, so a cached page is never stale; the
# minute in the key covers what changes with time alone (a freeze window starting).
PAGE_CACHE_SECONDS = 300
PAGE_CACHE_VERSION = "release-page-1"


def page_cache_key(request: HtmxHttpRequest, release: Release) -> str:
    """The release's and its project's revisions, the reader (their roles here and their
    CSRF secret, which the page's forms carry) and the current minute."""
    get_token(request)  # makes sure the request has its CSRF secret
    secret = request.META.get("CSRF_COOKIE", "")
    roles = sorted(roles_in(request.user, release.project_id))
    reader = hashlib.sha256(
        f"{request.user.pk}:{','.join(roles)}:{secret}:{request.get_full_path()}".encode()
    ).hexdigest()[:32]
    minute = int(time.time() // 60)
    revisions = f"{getattr(release, 'revision', 0)}.{getattr(release, 'project_revision', 0)}"
    return f"{PAGE_CACHE_VERSION}:{release.pk}:{revisions}:{reader}:{minute}"


@routes.path("releases/<int:pk>/", name="release_detail")
@require_GET
def release_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = selectors.release_for_page(request.user, pk)
    key = page_cache_key(request, release)
    panels = cache.get(key)
    if panels is None:
        context = _detail_context(request, release)
        panels = render_to_string("checklists/releases/panels/page.html", context, request)
        cache.set(key, panels, PAGE_CACHE_SECONDS)
    return render(
        request,
        "checklists/releases/detail.html",
        {"release": release, "panels": mark_safe(panels)},  # noqa: S308 - our own rendering
    )


def changed_since_page(
    request: HtmxHttpRequest, pk: int, error: ChangedSinceOpened
) -> HttpResponse:
    """The page again, as it is now, saying what changed since the person opened it
    (409: nothing was done). Rendered afresh, never from the page cache."""
    release = selectors.release_for_page(request.user, pk)
    context = _detail_context(request, release)
    context["changed_error"] = error
    if error.files_changed:
        # The files changed: the line diff between the uploads says how.
        context["what_changed_url"] = reverse("release_changes", kwargs={"pk": release.pk})
        context["what_changed_label"] = "See the line diff of the files"
    panels = render_to_string("checklists/releases/panels/page.html", context, request)
    return render(
        request,
        "checklists/releases/detail.html",
        {"release": release, "panels": mark_safe(panels)},  # noqa: S308 - our own rendering
        status=409,
    )


@routes.path("releases/<int:pk>/revision", name="release_revision")
@require_GET
def release_revision(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The page's poll: 204 while the release is at ``?known=``, else its revision."""
    revision = selectors.release_revision(request.user, pk)
    if revision is None:
        raise Http404("No such release.")
    if request.GET.get("known") == str(revision):
        response = HttpResponse(status=204)
    else:
        response = JsonResponse({"revision": revision})
    response["Cache-Control"] = "no-store"
    return response


@routes.path("releases/<int:pk>/files", name="release_files")
@require_GET
def release_files(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Every migration file of the release (the page shows the first few dozen)."""
    release = selectors.release_for_page(request.user, pk)
    context = _page_context(request, release)
    context["page"] = selectors.release_page(release, files_limit=None)
    if request.htmx:
        return _fragment(
            render(request, "checklists/releases/panels/files.html#files_rows", context)
        )
    return redirect(reverse("release_detail", kwargs={"pk": pk}) + "#files")


def _item_response(
    request: HtmxHttpRequest, release_pk: int, item_pk: int, *, error: str = "",
    files_changed: bool = False,
) -> HttpResponse:  # fmt: skip
    """The htmx answer to a refused change: the item as it is now, with the message (a
    4xx fragment made for its target) and, when the migrations changed under the form,
    a link to their line diff."""
    item = _shown_item(request, release_pk, item_pk)
    return _item_fragment(request, item, error=error, files_changed=files_changed)


def _shown_item(request: HtmxHttpRequest, release_pk: int, item_pk: int) -> ChecklistItem:
    """The item with what its answer shows, if the person may see its release (else 404,
    as for an item of another release)."""
    release = get_release_for_user(request.user, release_pk)
    try:
        return selectors.item_with_evidence(release, item_pk)
    except ChecklistItem.DoesNotExist:
        raise Http404("No such release.") from None


def _item_fragment(
    request: HtmxHttpRequest, item: ChecklistItem, *, error: str = "", files_changed: bool = False
) -> HttpResponse:
    """The htmx answer: the item again; the other panels refresh on "release-changed".
    ``item`` comes with its step, its release (project, owner) and its evidence."""
    release = item.release
    item.may_tick = rules.can_tick(request.user, item)  # type: ignore[attr-defined]
    context = {
        "release": release,
        "item": item,
        "item_error": error,
        "open_for_changes": release.state in rules.OPEN_FOR_CHANGES,
    }
    if files_changed:
        context["item_changes_url"] = reverse("release_changes", kwargs={"pk": release.pk})
    status = 422 if error else 200
    response = render(request, "checklists/releases/panels/item.html", context, status=status)
    return _fragment(response, changed=not error)


@routes.path(
    "releases/<int:pk>/items/<int:item_pk>/tick", name="item_tick", kwargs={"action": "tick"}
)
@routes.path(
    "releases/<int:pk>/items/<int:item_pk>/untick", name="item_untick", kwargs={"action": "untick"}
)
@routes.path(
    "releases/<int:pk>/items/<int:item_pk>/not-applicable",
    name="item_not_applicable",
    kwargs={"action": "not_applicable"},
)
@require_POST
def item_action(request: HtmxHttpRequest, pk: int, item_pk: int, action: str) -> HttpResponse:
    """Tick, untick or mark not applicable (``action``, from the route) one item.

    The service reads the item with its lock, only in the person's projects: another
    project's item is a 404, as a release they may not see."""
    item = ChecklistItem(pk=item_pk, release_id=pk)
    form: TickForm | ReasonForm = (
        TickForm(request.POST, request.FILES) if action == "tick" else ReasonForm(request.POST)
    )
    error = ""
    files_changed = False
    changed: ChecklistItem | None = None
    if not form.is_valid():
        # Who may act comes before what they sent: someone who may not tick this item is
        # told so (403, naming the role), not that a field is missing.
        shown = _shown_item(request, pk, item_pk)
        item_services.check_may_tick(request.user, shown)
        error = "; ".join(f"{e}" for errs in form.errors.values() for e in errs)
        if request.htmx:
            return _item_fragment(request, shown, error=error)
    else:
        data = form.cleaned_data
        try:
            if action == "tick":
                changed = item_services.item_tick(
                    item=item, user=request.user, comment=data["comment"],
                    expected_revision=data["revision"], link=data["link"],
                    upload=data["file"], seen_content=data["seen_content"] or None,
                )  # fmt: skip
                done = "Ticked"
            elif action == "untick":
                changed = item_services.item_untick(
                    item=item, user=request.user, reason=data["reason"],
                    expected_revision=data["revision"],
                )  # fmt: skip
                done = "Reopened"
            else:
                changed = item_services.item_mark_not_applicable(
                    item=item, user=request.user, reason=data["reason"],
                    expected_revision=data["revision"],
                    seen_content=data["seen_content"] or None,
                )  # fmt: skip
                done = "Marked not applicable"
        except ChecklistItem.DoesNotExist:
            raise Http404("No such release.") from None
        except ChecklistError as e:  # AlreadyDone among them: a second click is told so
            error = error_text(e)
            files_changed = isinstance(e, ChangedSinceOpened) and e.files_changed
        else:
            if not request.htmx:
                messages.success(request, f"{done}: {changed.step.text[:80]}")
    if request.htmx:
        if changed is not None:
            # The service's item is as it committed it, with its release: answered from
            # it rather than read again.
            return _item_fragment(request, selectors.with_evidence(changed))
        return _item_response(request, pk, item_pk, error=error, files_changed=files_changed)
    if error:
        messages.error(request, error)
    return redirect(reverse("release_detail", kwargs={"pk": pk}) + f"#item-{item_pk}")


@routes.path("releases/<int:pk>/signoff", name="release_signoff")
@require_POST
def release_signoff(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk)
    kind = request.POST.get("kind", "")
    if kind in SignOff.Kind.values and not rules.can_sign_as(request.user, release, kind):
        raise PermissionDenied("You cannot give this sign-off.")
    form = SignOffForm(request.POST)
    error = ""
    changed: ChangedSinceOpened | None = None
    if not form.is_valid():
        error = "Choose the sign-off and enter your password."
    else:
        try:
            signoff_give(release=release, user=request.user, **form.cleaned_data)
        except ChangedSinceOpened as e:
            if not request.htmx:
                return changed_since_page(request, pk, e)
            changed = e
            error = error_text(e)
        except ChecklistItem.DoesNotExist:
            raise Http404("No such release.") from None
        except ChecklistError as e:  # AlreadyDone among them: a second click is told so
            error = error_text(e)
    done = "Signed off. The digest you approved is recorded."
    if request.htmx:
        # The panel again, in place: its error beside the form, or the sign-off recorded
        # (the form gone); the page's other panels refresh on "release-changed".
        release = selectors.release_for_page(request.user, pk)
        context = _page_context(request, release)
        context.update(signoff_error=error, signoff_kind=request.POST.get("kind", ""))
        context["signoff_done"] = "" if error else done
        if changed is not None:
            context["changed_error"] = changed
            if changed.files_changed:
                context["what_changed_url"] = reverse("release_changes", kwargs={"pk": pk})
                context["what_changed_label"] = "See the line diff of the files"
        response = render(
            request,
            "checklists/releases/panels/signoff.html",
            context,
            status=422 if error else 200,
        )
        return _fragment(response, changed=not error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect(reverse("release_detail", kwargs={"pk": pk}) + "#signoffs")


# The multipart framing and the form's other fields, on top of the archive itself.
UPLOAD_FORM_SLACK_BYTES = 64 * 1024


def _declared_body_size(request: HtmxHttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0  # Django reads no body then either


@routes.path("releases/<int:pk>/migrations", name="release_migrations")
@csrf_exempt  # checked in _release_migrations: the CSRF check reads the form
@require_POST
def release_migrations(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Refuses an archive over the limit by its declared size, before anything (the CSRF
    check included) reads the body; then the upload as usual."""
    release = get_release_for_user(request.user, pk, Action.EDIT_RELEASE)
    size = _declared_body_size(request)
    if size > MAX_ARCHIVE_BYTES + UPLOAD_FORM_SLACK_BYTES:
        messages.error(
            request,
            f"Nothing was stored: the upload is {size // (1024 * 1024)} MB; an archive may be "
            f"at most {MAX_ARCHIVE_BYTES // (1024 * 1024)} MB. Upload only the supabase/ "
            "folder.",
        )
        return redirect("release_detail", pk=pk)
    return _release_migrations(request, release)


@csrf_protect
def _release_migrations(request: HtmxHttpRequest, release: Release) -> HttpResponse:
    pk = release.pk
    form = MigrationsUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.non_field_errors() or [str(e) for e in form.errors.values()]:
            messages.error(request, str(error))
        return redirect("release_detail", pk=pk)
    data = form.cleaned_data
    try:
        if data["from_git"]:
            result = release_read_git(
                release=release, actor=request.user, commit_sha=data["commit_sha"] or None,
                seen_content=data["seen_content"] or None,
            )  # fmt: skip
        else:
            upload = data["archive"]
            result = release_upload_archive(
                release=release, data=upload.read(), filename=upload.name or "archive",
                actor=request.user, commit_sha=data["commit_sha"] or None,
                seen_content=data["seen_content"] or None,
            )  # fmt: skip
    except (BundleError, ChecklistError) as e:
        messages.error(request, nothing_stored(error_text(e)))
        return redirect("release_detail", pk=pk)
    parts = [f"{len(result.added)} added", f"{len(result.removed)} removed",
             f"{len(result.changed)} changed"]  # fmt: skip
    text = "Migrations stored (" + ", ".join(parts) + ")."
    if result.skipped:
        text += (
            f" The Supabase CLI would skip {', '.join(result.skipped[:5])}: it applies only "
            "files named <version>_<name>.sql, directly in supabase/migrations."
        )
    if result.refresh.stale_signoffs:
        text += f" {result.refresh.stale_signoffs} sign-off(s) are now stale."
    messages.success(request, text)
    for problem in result.problems:
        messages.warning(request, f"The Supabase CLI would fail on these files: {problem}.")
    return redirect("release_detail", pk=pk)


@routes.path("releases/<int:pk>/migrations/<int:file_pk>/", name="migration_file")
@require_GET
def migration_file(request: HtmxHttpRequest, pk: int, file_pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk)
    migration = get_object_or_404(release.migration_files, pk=file_pk)
    return render(
        request, "checklists/releases/migration_file.html", {"release": release, "file": migration}
    )


@routes.path("releases/<int:pk>/cancel", name="release_cancel")
@require_POST
def release_cancel_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk, Action.EDIT_RELEASE)
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the release is cancelled.")
        return redirect("release_detail", pk=pk)
    try:
        release_cancel(release=release, user=request.user, reason=form.cleaned_data["reason"])
    except ChecklistError as e:
        messages.error(request, error_text(e))
    else:
        messages.success(request, "Release cancelled.")
    return redirect("release_detail", pk=pk)
