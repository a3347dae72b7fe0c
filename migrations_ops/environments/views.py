"""The environments page of a project (members only; another project's is a 404)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from migrations_ops.environments.selectors import environments, release_matrix
from release_portal.accounts.access import get_project_for_user
from release_portal.accounts.roles import ProjectAccess
from release_portal.routes import Routes

routes = Routes()


@routes.path("projects/<slug:slug>/environments/", name="project_environments")
@require_GET
def project_environments(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    envs = environments([project]).get(project.pk, [])
    targets = [env.target for env in envs]
    return render(
        request,
        "migrations_ops/environments/environments.html",
        {"project": project, "envs": envs, "targets": targets,
         "matrix": release_matrix(project, targets),
         "access": ProjectAccess(request.user, project)},
    )  # fmt: skip
