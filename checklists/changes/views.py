"""What changed in a release's files: a line diff between two of its uploads, or between
the bundle a sign-off approved and the current one, and the full files behind it.

Both pages are read like the release page: 404 outside the person's projects.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from checklists.access import get_release_for_user
from checklists.bundles import BundleError, stored_bundle_files
from checklists.changes.diffs import (
    MAX_DIFF_LINES,
    Side,
    bundle_diff,
    release_bundle,
    release_sides,
)
from release_portal.routes import Routes

routes = Routes()


def _pick(sides: list[Side], key: str | None, default: Side | None) -> Side | None:
    if not key:
        return default
    for side in sides:
        if side.key == key:
            return side
    raise Http404("no such upload of this release")


@routes.path("releases/<int:pk>/changes/", name="release_changes")
@require_GET
def release_changes(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk)
    sides = release_sides(release)
    uploads = [s for s in sides if s.key != "signed"]
    signed = next((s for s in sides if s.key == "signed"), None)
    newest = uploads[0] if uploads else None
    fallback: Side | None
    if signed is not None and newest is not None and signed.bundle != newest.bundle:
        fallback = signed
    else:
        fallback = uploads[1] if len(uploads) > 1 else None
    new = _pick(sides, request.GET.get("to"), newest)
    old = _pick(sides, request.GET.get("from"), fallback)
    diffs = []
    error = ""
    if new is not None and old is not None:
        try:
            diffs = bundle_diff(old.bundle, new.bundle)
        except BundleError as e:
            error = str(e)
    return render(
        request,
        "checklists/changes/diff.html",
        {
            "release": release,
            "sides": sides,
            "old": old,
            "new": new,
            "diffs": diffs,
            "error": error,
            "max_lines": MAX_DIFF_LINES,
        },
    )


@routes.path("releases/<int:pk>/bundles/<str:digest>/file", name="release_bundle_file")
@require_GET
def bundle_file(request: HttpRequest, pk: int, digest: str) -> HttpResponse:
    """One file of a bundle the release holds or held, whole, as a download."""
    release = get_release_for_user(request.user, pk)
    bundle = release_bundle(release, digest)
    path = request.GET.get("path", "")
    if bundle is None or path not in {f["path"] for f in bundle.files}:
        raise Http404("no such file in this release's bundles")
    try:
        data = next(f.data for f in stored_bundle_files(bundle) if f.path == path)
    except (StopIteration, BundleError):
        raise Http404("the file could not be read from the stored bundle") from None
    response = HttpResponse(data, content_type="text/plain; charset=utf-8")
    name = path.rsplit("/", 1)[-1].replace('"', "")
    response["Content-Disposition"] = f'attachment; filename="{bundle.digest[:12]}-{name}"'
    return response
