"""The release page's "What this release does" card, loaded lazily (htmx on reveal).

One GET: the card as a fragment for htmx, or as a page of its own without JavaScript.
Anyone who may read the release may read it (404 outside its project). The risk table
sorts on the server (``?sort=``), so the column headers are plain links htmx follows.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from checklists.access import get_release_for_user
from migrations_ops.analysis.selectors import release_analysis
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.risk_rules import ORDER
from release_portal.http import HtmxHttpRequest
from release_portal.routes import Routes

routes = Routes()


def _lock_rank(statement: dict[str, Any]) -> int:
    try:
        return int(LockMode.from_label(statement["lock"])) if statement.get("lock") else -1
    except (KeyError, ValueError):
        return -1


def _rows(statement: dict[str, Any]) -> int:
    return max((t.get("rows") or 0 for t in statement.get("table_sizes", [])), default=0)


# The risk table's orders; "risk" (hazards first) is the default, as the selector gives.
SORTS: dict[str, tuple[str, Any]] = {
    "risk": ("Risk, hazards first", None),
    "file": ("File and line", lambda s: (s.get("file", ""), s.get("line", 0))),
    "lock": ("Strongest lock", lambda s: (-_lock_rank(s), -ORDER.get(s.get("risk"), 0))),
    "rows": ("Largest table", lambda s: -_rows(s)),
    "held": ("Lock held longest", lambda s: -(s.get("lock_held_seconds") or 0)),
}


@routes.path("releases/<int:pk>/analysis", name="release_analysis")
@require_GET
def release_analysis_card(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request.user, pk)
    analysis = release_analysis(release)
    sort = request.GET.get("sort", "risk")
    if sort not in SORTS:
        sort = "risk"
    risk = analysis["risk"]
    if risk is not None and SORTS[sort][1] is not None:
        risk["statements"] = sorted(risk["statements"], key=SORTS[sort][1])
    context = {
        "release": release,
        "analysis": analysis,
        "risk": risk,
        "matrix": analysis["access"],
        "sort": sort,
        "sorts": [(key, label) for key, (label, _) in SORTS.items()],
    }
    template = "card.html" if request.htmx else "page.html"
    return render(request, f"migrations_ops/analysis/{template}", context)
