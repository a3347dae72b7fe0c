"""The README holds what it promises: every variable the settings read is in its
Configuration table, and its gate example works against `make run` as written."""

from __future__ import annotations

import re
import shlex
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from checklists.models import Release
from migrations_ops import demo
from release_portal.api.tokens import token_create

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start : end if end > 0 else None]


def test_every_variable_the_settings_read_is_documented():
    """TEST_DATABASE_NAME was read by the settings and named nowhere in the README."""
    source = (ROOT / "release_portal" / "settings.py").read_text()
    read = set(re.findall(r"\benv_\w+\(\s*\"([A-Z][A-Z0-9_]+)\"", source))
    assert {"DATABASE_URL", "TEST_DATABASE_NAME", "PORTAL_SANDBOX_DIR"} <= read  # the regex sees
    table = _section("## Configuration")
    missing = sorted(name for name in read if f"`{name}`" not in table)
    assert missing == []


@pytest.mark.django_db
def test_the_gate_example_answers_against_the_demo(client, monkeypatch, settings, tmp_path):
    """What a reader got from the README's curl: a made-up host and release 42, which no
    `make run` has. It now asks the `make run` address about the demo's release."""
    block = _section("### Asking the gate").split("```bash", 1)[1].split("```", 1)[0]
    command = next(line for line in block.replace("\\\n", " ").splitlines() if "curl" in line)
    words = shlex.split(command)
    header = words[words.index("-H") + 1]
    url = next(w for w in words if w.startswith("http"))
    assert urlsplit(url).netloc == "127.0.0.1:8000"  # make run's default address
    assert header == "Authorization: Bearer $RELEASE_PORTAL_TOKEN"

    monkeypatch.setattr(demo, "demo_targets_prepare", lambda **kwargs: None)
    settings.MEDIA_ROOT = str(tmp_path)
    settings.DEBUG = True  # demo_load loads the demo only in debug (as `make run` is)
    call_command("demo_load", stdout=StringIO())
    release = Release.objects.get(commit_sha=demo.DEMO_RELEASE_COMMIT)
    # A fresh `make run` makes no release before the demo's: it is release 1 there.
    assert not Release.objects.filter(pk__lt=release.pk).exists()
    assert urlsplit(url).path == "/api/releases/1/gate"
    token = token_create(project=release.project, name="readme", scopes=["read"],
                         user=release.owner)  # fmt: skip
    path = urlsplit(url).path.replace("/1/", f"/{release.pk}/")
    response = client.get(path, headers={"Authorization": f"Bearer {token.value}"})
    assert response.status_code == 409  # the pre-flight is not done, as the README says
    assert response.json()["release"] == release.pk
    tokens_page = re.search(r"<http://127\.0\.0\.1:8000(/projects/[^>]+)>", block + README)
    assert tokens_page and tokens_page.group(1) == f"/projects/{release.project.slug}/tokens/"
