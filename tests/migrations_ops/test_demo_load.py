"""demo_load reports the demo's own release, whatever else the demo project holds."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from checklists.models import Release
from checklists.services.releases import release_create
from migrations_ops import demo

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_demo_databases(monkeypatch, settings, tmp_path):
    # The demo's role and target databases live on the portal's server: not touched here.
    monkeypatch.setattr(demo, "demo_targets_prepare", lambda **kwargs: None)
    settings.MEDIA_ROOT = str(tmp_path)
    settings.DEBUG = True


def load() -> str:
    out = StringIO()
    call_command("demo_load", stdout=out)
    return out.getvalue()


def test_it_reports_the_demo_release_after_a_newer_one_was_created():
    load()
    demo_release = Release.objects.get(commit_sha=demo.DEMO_RELEASE_COMMIT)
    project = demo_release.project
    newer = release_create(
        project=project, title="Someone's own release", owner=demo_release.owner,
        commit_sha="a" * 40, created_by=demo_release.owner,
    )  # fmt: skip
    assert Release.objects.filter(project=project).first() == newer  # newest first

    output = load()

    assert f"Release: {demo_release.title} (" in output
    assert newer.title not in output
    assert Release.objects.filter(project=project).count() == 2  # nothing created again


def test_it_creates_the_demo_release_once():
    load()
    load()
    assert Release.objects.filter(commit_sha=demo.DEMO_RELEASE_COMMIT).count() == 1
