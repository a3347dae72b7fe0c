"""Taking a release away: its Markdown report and its evidence pack."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from checklists.access import get_release_for_user
from checklists.reports import evidence_pack
from checklists.reports.release_report import (
    evidence_pack_allowed,
    release_download_record,
    release_report_markdown,
)
from migrations_ops.jobs.output import may_read_production_rows
from release_portal.routes import Routes

routes = Routes()


@routes.path("releases/<int:pk>/report.md", name="release_report")
@require_GET
def release_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The release report as a Markdown download, for anyone in the release's project."""
    release = get_release_for_user(request.user, pk)
    release_download_record(release=release, actor=request.user, action="release.report")
    text = release_report_markdown(release, base_url=request.build_absolute_uri("/"))
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="release-{release.pk}-report.md"'
    response["Cache-Control"] = "no-store"
    return response


@routes.path("releases/<int:pk>/evidence.zip", name="release_evidence_pack")
@require_GET
def release_evidence_pack(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The evidence pack (zip), for platform leads, auditors and the release's owner."""
    release = get_release_for_user(request.user, pk)
    if not evidence_pack_allowed(request.user, release):
        raise PermissionDenied(
            "The evidence pack is for platform leads, auditors and the release owner."
        )
    release_download_record(
        release=release, actor=request.user, action="release.evidence_pack",
        format=evidence_pack.FORMAT,
    )  # fmt: skip
    spool = evidence_pack.evidence_pack_spooled(
        release,
        base_url=request.build_absolute_uri("/"),
        # What the jobs over production's rows wrote, for SREs and platform leads only.
        output=may_read_production_rows(request.user, release.project_id),
    )
    response = FileResponse(
        spool,
        as_attachment=True,
        filename=f"release-{release.pk}-evidence.zip",
        content_type="application/zip",
    )
    response["Cache-Control"] = "no-store"
    return response
