"""Compare a draft with the published version, publish it with notes, or discard it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from checklists.models import RunbookVersion
from checklists.runbooks.diff import diff_steps
from checklists.runbooks.services import runbook_import
from release_portal.audit.models import AuditEvent
from tests.checklists.runbooks.conftest import edited


def url(name, version):
    return reverse(name, args=[version.project.slug, version.number])


@pytest.fixture
def draft_v2(published, project, platform_lead, runbook_v1_text):
    text = runbook_v1_text
    # Reworded (same opening words: same key), rewritten (matched by similarity), one
    # removed, one added.
    text = edited(
        text,
        "RLS Docker test suite passed on the merge commit.",
        "RLS Docker test suite passed on the release's merge commit.",
    )
    text = edited(
        text,
        "Manual Supabase backup captured and logged.",
        "Manual Supabase backup captured, verified by a restore and logged.",
    )
    text = edited(text, "- [ ] Review Supabase dashboard for pending or failed migrations.\n", "")
    text = edited(
        text,
        "Application smoke tests and security checks completed post-staging.",
        "Post-staging application smoke tests and security checks completed.",
    )
    text = edited(text, "- [ ] Release owner sign-off",
                  "- [ ] Incident channel told the release is going out.\n"
                  "- [ ] Release owner sign-off")  # fmt: skip
    return runbook_import(project=project, source_bytes=text.encode(), user=platform_lead)


def test_it_matches_steps_by_key_then_by_similar_text(published, draft_v2):
    diff = diff_steps(list(published.steps.all()), list(draft_v2.steps.all()))
    assert [c.new.text for c in diff.added] == ["Incident channel told the release is going out."]
    assert [c.old.key for c in diff.removed] == ["review-supabase-dashboard-pending-failed"]
    changed = {c.old.key: (c.matched_by, c.fields) for c in diff.changed}
    assert changed == {
        "rls-docker-test-suite-passed": ("key", ["text"]),
        "manual-supabase-backup-captured-logged": ("similarity", ["key", "text"]),
        "application-smoke-tests-security-checks": ("similarity", ["key", "text"]),
    }
    assert len(diff.unchanged) == 9


def test_the_compare_page_shows_the_draft_beside_the_published_version(client, personas, draft_v2):
    client.force_login(personas["qa_lead"])
    response = client.get(url("runbook_compare", draft_v2))
    assert response.status_code == 200
    html = response.content.decode()
    assert "compared with v1 (published)" in html
    assert "1 added" in html and "1 removed" in html and "3 changed" in html
    assert 'class="diff-add" data-status="added"' in html
    assert 'class="diff-del" data-status="removed"' in html
    assert "Manual Supabase backup captured, verified by a restore and logged." in html
    assert "A platform lead publishes drafts." in html  # QA lead: no publish form
    assert url("runbook_publish", draft_v2) not in html


def test_a_lead_publishes_from_the_compare_page(client, personas, draft_v2):
    client.force_login(personas["platform_lead"])
    page = client.get(url("runbook_compare", draft_v2)).content.decode()
    assert url("runbook_publish", draft_v2) in page
    response = client.post(url("runbook_publish", draft_v2), {"notes": "Backups are verified."})
    assert response.status_code == 302
    draft_v2.refresh_from_db()
    assert draft_v2.status == "published"
    assert draft_v2.history[-1] == {
        "date": timezone.now().date().isoformat(),
        "by": "lead",
        "notes": "Backups are verified.",
    }
    html = client.get(url("runbook_detail", draft_v2)).content.decode()
    assert "Backups are verified." in html


def test_publishing_needs_notes(client, personas, draft_v2):
    client.force_login(personas["platform_lead"])
    response = client.post(url("runbook_publish", draft_v2), {"notes": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert RunbookVersion.objects.get(pk=draft_v2.pk).status == "draft"


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre", "auditor"])
def test_other_roles_may_not_publish_or_discard(client, personas, draft_v2, role):
    client.force_login(personas[role])
    assert client.post(url("runbook_publish", draft_v2), {"notes": "x"}).status_code == 403
    assert client.post(url("runbook_discard", draft_v2)).status_code == 403
    assert RunbookVersion.objects.get(pk=draft_v2.pk).status == "draft"


def test_another_projects_lead_gets_404_everywhere(client, personas, draft_v2):
    client.force_login(personas["outsider"])
    assert client.get(url("runbook_compare", draft_v2)).status_code == 404
    assert client.post(url("runbook_publish", draft_v2), {"notes": "x"}).status_code == 404
    assert client.post(url("runbook_discard", draft_v2)).status_code == 404
    assert RunbookVersion.objects.get(pk=draft_v2.pk).status == "draft"


def test_a_lead_discards_a_draft(client, personas, draft_v2):
    client.force_login(personas["platform_lead"])
    response = client.post(url("runbook_discard", draft_v2))
    assert response.status_code == 302
    assert not RunbookVersion.objects.filter(pk=draft_v2.pk).exists()
    assert AuditEvent.objects.filter(action="runbook.discard").count() == 1


def test_a_published_version_cannot_be_discarded(client, personas, published):
    client.force_login(personas["platform_lead"])
    response = client.post(url("runbook_discard", published), follow=True)
    assert "cannot be discarded" in response.content.decode()
    assert RunbookVersion.objects.filter(pk=published.pk).exists()


def test_the_first_version_compares_with_nothing(client, personas, draft):
    client.force_login(personas["platform_lead"])
    html = client.get(url("runbook_compare", draft)).content.decode()
    assert "nothing published yet" in html
    assert "13 added" in html


def test_an_older_published_version_says_it_was_superseded_and_the_first_has_no_previous(
    client, personas, published, draft_v2, platform_lead
):
    """Both read "Published" before, and v1 offered "Compare with the previous version",
    which led to "v1 compared with nothing published yet" about a published version."""
    from checklists.runbooks.services import runbook_publish

    runbook_publish(version=draft_v2, user=platform_lead, notes="Backups are verified.")
    client.force_login(personas["auditor"])
    listing = client.get(reverse("runbook_list")).content.decode()
    assert 'Superseded</span> <span class="small muted">by v2</span>' in listing
    assert "Published, current" in listing
    v1 = client.get(url("runbook_detail", published)).content.decode()
    assert "Superseded by" in v1 and "New releases pin v2" in v1
    assert "Compare with the previous version" not in v1
    assert url("runbook_compare", published) not in v1  # nothing before v1 to compare with
    v2 = client.get(url("runbook_detail", draft_v2)).content.decode()
    assert (
        "Superseded" not in v2
        and f'href="{url("runbook_compare", draft_v2)}">Compare with v1' in v2
    )
    first = client.get(url("runbook_compare", published)).content.decode()
    assert "nothing published yet" not in first
    assert "compared with nothing: the first published version" in first
