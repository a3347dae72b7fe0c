"""The version page renders markdown safely and edits draft steps with or without htmx."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from checklists.runbooks.services import runbook_import
from release_portal.audit.models import AuditEvent
from tests.html import inline_code

HOSTILE = b"""# Evil <script>alert('title')</script>

<script>alert(1)</script>
<img src=x onerror="alert(2)">
<div onclick="alert(3)">raw html</div>
<style>body { display: none }</style>
[click](javascript:alert(4)) and [data](data:text/html;base64,PHNjcmlwdD4=)
<a href="javascript:alert(6)">raw link</a> <iframe src="https://evil.example"></iframe>
[vb](vbscript:msgbox(1)) [ok](https://example.com/docs)

## Steps

- [ ] Step with <script>alert(7)</script> and <b onmouseover=alert(8)>bold</b>
- [ ] Visit [here](javascript:alert(9)) and run `supabase migration up --<script>`

## Change Log

| Date (UTC) | Updated By | Notes |
| --- | --- | --- |
| 2025-01-01 | <script>alert(10)</script> | <img src=x onerror=alert(11)> |
"""


class _Urls(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in {"href", "src", "action"}]


def urls_in(html: str) -> list[str]:
    parser = _Urls()
    parser.feed(html)
    return parser.urls


def detail_url(version):
    return reverse("runbook_detail", args=[version.project.slug, version.number])


def step_url(step):
    version = step.version
    return reverse("runbook_step_edit", args=[version.project.slug, version.number, step.pk])


def test_it_renders_a_hostile_runbook_without_any_active_content(client, personas, project):
    version = runbook_import(project=project, source_bytes=HOSTILE, user=None)
    client.force_login(personas["auditor"])
    html = client.get(detail_url(version)).content.decode()
    assert inline_code(html) == []  # no inline script, style, on*= handler, javascript: URL
    for active in ("<script>alert", "<img", "<iframe", "<style>", "<div onclick", "<b onmouse"):
        assert active not in html
    schemes = {url.split(":", 1)[0] for url in urls_in(html) if ":" in url}
    assert schemes <= {"https"}, schemes  # the rest are the portal's own relative URLs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text, harmlessly
    assert '<a href="https://example.com/docs" rel="noopener noreferrer nofollow">ok</a>' in html
    # The lint finding quotes the hostile flag, escaped.
    assert "--&lt;script&gt;" in html


def test_it_escapes_the_title_steps_and_change_log(client, personas, project):
    version = runbook_import(project=project, source_bytes=HOSTILE, user=None)
    client.force_login(personas["platform_lead"])
    html = client.get(detail_url(version)).content.decode()
    assert "<title>Evil &lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt; v1" in html
    assert "&lt;script&gt;alert(10)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(11)&gt;" in html


def test_a_lead_edits_a_draft_step_with_a_plain_form(client, personas, draft):
    smoke = draft.steps.get(position=11)
    client.force_login(personas["platform_lead"])
    response = client.post(
        step_url(smoke),
        {
            "owner": "sre",
            "evidence_kinds": "link, file job:restore_check",
            "requires_evidence": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == detail_url(draft) + f"#step-{smoke.key}"
    smoke.refresh_from_db()
    assert smoke.owner == "sre"
    assert smoke.evidence_kinds == ["link", "file", "job:restore_check"]
    assert smoke.requires_evidence is True
    assert AuditEvent.objects.filter(action="runbook.step_update").count() == 1


def test_with_htmx_the_edit_returns_only_the_steps_row(client, personas, draft):
    first = draft.steps.get(position=1)
    client.force_login(personas["platform_lead"])
    response = client.post(
        step_url(first),
        {"owner": "qa_lead", "evidence_kinds": "job:order"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith(f'<tr id="step-{first.key}"')
    assert "<html" not in html and "Saved" in html
    assert 'hx-post="' in html and 'action="' in html  # still a form without JS
    first.refresh_from_db()
    assert (first.owner, first.requires_evidence) == ("qa_lead", False)


def test_with_htmx_an_invalid_edit_shows_the_error_in_the_row(client, personas, draft):
    first = draft.steps.get(position=1)
    client.force_login(personas["platform_lead"])
    response = client.post(
        step_url(first),
        {"owner": "sre", "evidence_kinds": "<b>bad</b>", "requires_evidence": "on"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200  # htmx swaps only 2xx: the row carries the error
    html = response.content.decode()
    assert "is not an evidence kind" in html
    assert "&lt;b&gt;bad&lt;/b&gt;" in html and "<b>bad" not in html
    first.refresh_from_db()
    assert first.owner == "release_engineer"


def test_without_htmx_an_invalid_edit_rerenders_the_page(client, personas, draft):
    first = draft.steps.get(position=1)
    client.force_login(personas["platform_lead"])
    response = client.post(step_url(first), {"owner": "sre", "requires_evidence": "on"})
    assert response.status_code == 400
    assert "Choose at least one evidence kind" in response.content.decode()


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor"])
def test_other_roles_may_not_edit_steps(client, personas, draft, role):
    first = draft.steps.get(position=1)
    client.force_login(personas[role])
    response = client.post(step_url(first), {"owner": "sre", "evidence_kinds": "link"})
    assert response.status_code == 403
    first.refresh_from_db()
    assert first.owner == "release_engineer"


def test_another_projects_lead_may_not_edit_steps(client, personas, draft):
    first = draft.steps.get(position=1)
    client.force_login(personas["outsider"])
    assert client.post(step_url(first), {"owner": "sre"}).status_code == 404
    first.refresh_from_db()
    assert first.owner == "release_engineer"


def test_a_published_versions_steps_are_read_only(client, personas, published):
    first = published.steps.get(position=1)
    client.force_login(personas["platform_lead"])
    html = client.get(detail_url(published)).content.decode()
    assert step_url(first) not in html
    response = client.post(step_url(first), {"owner": "sre", "evidence_kinds": "link"})
    assert response.status_code == 400
    assert "frozen" in response.content.decode()
    first.refresh_from_db()
    assert first.owner == "release_engineer"
