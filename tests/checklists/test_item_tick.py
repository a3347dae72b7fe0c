import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from checklists.models import ChecklistItem, Evidence
from checklists.services.errors import AlreadyDone, ChecklistError
from checklists.services.items import (
    evidence_add,
    item_mark_not_applicable,
    item_tick,
    item_untick,
)
from release_portal.audit.models import AuditEvent
from tests.checklists.conftest import item
from tests.locking import other_connection, wait_until_blocked


def test_the_owning_role_ticks_its_item(release_with_files, release_engineer):
    done = item_tick(
        item=item(release_with_files, "run-pnpm-lint-typecheck-test"),
        user=release_engineer,
        comment="order checked",
    )
    assert done.state == ChecklistItem.State.DONE
    assert done.done_by == release_engineer
    assert done.comment == "order checked"
    event = AuditEvent.objects.get(action="item.tick")
    assert event.data["step"] == "run-pnpm-lint-typecheck-test"
    assert event.release_id == release_with_files.pk


@pytest.mark.parametrize("role", ["qa_lead", "sre", "auditor", "outsider"])
def test_other_roles_may_not_tick_a_release_engineers_item(release_with_files, personas, role):
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    # Someone with no role in the project is not told the item exists (a 404 to the view).
    refused = ChecklistItem.DoesNotExist if role == "outsider" else PermissionDenied
    with pytest.raises(refused):
        item_tick(item=target, user=personas[role])
    with pytest.raises(refused):
        item_untick(item=target, user=personas[role], reason="x")
    assert item(release_with_files, "run-pnpm-lint-typecheck-test").state == "open"


def test_a_platform_lead_may_tick_any_item(release_with_files, platform_lead):
    target = item(release_with_files, "application-smoke-tests-security-checks")
    assert item_tick(item=target, user=platform_lead).state == "done"


def test_a_second_tick_says_who_did_it_and_writes_nothing(release_with_files, release_engineer):
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    item_tick(item=target, user=release_engineer)
    with pytest.raises(AlreadyDone, match="Already done by releng at"):
        item_tick(item=target, user=release_engineer)
    assert AuditEvent.objects.filter(action="item.tick").count() == 1


def test_a_stale_form_is_refused(release_with_files, release_engineer, platform_lead):
    target = item(release_with_files, "verify-secrets-supabase-access-token")
    rendered_at = target.revision
    item_mark_not_applicable(item=target, user=platform_lead, reason="no secrets needed")
    with pytest.raises(AlreadyDone, match="changed while you looked"):
        item_untick(item=target, user=release_engineer, reason="x", expected_revision=rendered_at)


def test_rls_items_need_passing_evidence_for_these_migrations(release_with_files, qa_lead):
    target = item(release_with_files, "rls-docker-test-suite-passed")
    with pytest.raises(ChecklistError, match="needs proof"):
        item_tick(item=target, user=qa_lead)
    # Evidence for other migrations does not count.
    Evidence.objects.create(item=target, kind="job", status="passed", digest="0" * 64)
    with pytest.raises(ChecklistError, match="needs proof"):
        item_tick(item=target, user=qa_lead)
    Evidence.objects.create(
        item=target, kind="job", status="failed", digest=release_with_files.content_digest
    )
    with pytest.raises(ChecklistError, match="failed"):
        item_tick(item=target, user=qa_lead)
    # The latest result of the check decides: a later pass replaces the failure.
    Evidence.objects.create(
        item=target, kind="job", status="passed", digest=release_with_files.content_digest
    )
    assert item_tick(item=target, user=qa_lead).state == "done"


def test_a_link_attached_with_the_tick_is_no_proof_for_a_gating_step(release_with_files, qa_lead):
    target = item(release_with_files, "rls-docker-test-suite-passed")
    with pytest.raises(ChecklistError, match="needs proof"):
        item_tick(item=target, user=qa_lead, link="https://ci.example.com/runs/42")
    # Refused whole: neither the tick nor the link was kept.
    assert not Evidence.objects.filter(item=target).exists()
    assert item(release_with_files, "rls-docker-test-suite-passed").state == "open"


def test_a_link_still_proves_a_step_that_names_only_links_or_files(release_with_files, qa_lead):
    target = item(release_with_files, "application-smoke-tests-security-checks")
    target.step.requires_evidence = True
    target.step.save(update_fields=["requires_evidence"])
    with pytest.raises(ChecklistError, match="needs proof"):
        item_tick(item=target, user=qa_lead)
    item_tick(item=target, user=qa_lead, link="https://ci.example.com/runs/42")
    evidence = Evidence.objects.get(item=target)
    assert evidence.kind == "link" and evidence.created_by == qa_lead


def test_untick_and_not_applicable_need_a_reason(release_with_files, release_engineer):
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    item_tick(item=target, user=release_engineer)
    with pytest.raises(ChecklistError, match="reason"):
        item_untick(item=target, user=release_engineer, reason="  ")
    item_untick(item=target, user=release_engineer, reason="ticked the wrong one")
    assert item(release_with_files, "run-pnpm-lint-typecheck-test").state == "open"
    item_mark_not_applicable(item=target, user=release_engineer, reason="no migrations folder")
    assert item(release_with_files, "run-pnpm-lint-typecheck-test").state == "not_applicable"
    actions = list(
        AuditEvent.objects.filter(action__startswith="item.").values_list("action", flat=True)
    )
    assert actions == ["item.tick", "item.untick", "item.not_applicable"]


def test_evidence_never_ticks(release_with_files):
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    from django.db import transaction

    with transaction.atomic():
        evidence_add(item=target, actor=None, kind="job", status="passed", summary="ok")
    assert item(release_with_files, "run-pnpm-lint-typecheck-test").state == "open"


def test_the_signoff_step_is_not_ticked_by_hand(release_with_files, platform_lead):
    with pytest.raises(ChecklistError, match="signing off"):
        item_tick(item=item(release_with_files, "release-owner-sign-off-name"), user=platform_lead)


@pytest.mark.django_db(transaction=True)
def test_two_people_ticking_at_once_write_one_tick(project, release_engineer, platform_lead):
    from checklists.services.releases import release_create
    from tests.factories import published_runbook

    published_runbook(project)
    release = release_create(
        project=project,
        title="t",
        owner=platform_lead,
        commit_sha="c" * 40,
        created_by=platform_lead,
    )
    target = item(release, "run-pnpm-lint-typecheck-test")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def tick(user):
        barrier.wait()
        try:
            item_tick(item=target, user=user)
            outcomes.append("done")
        except AlreadyDone as e:
            outcomes.append(str(e))
        finally:
            connection.close()

    threads = [threading.Thread(target=tick, args=(u,)) for u in (release_engineer, platform_lead)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[0] == "done" or "done" in outcomes
    assert outcomes.count("done") == 1
    assert any("Already done by" in o for o in outcomes)
    assert AuditEvent.objects.filter(action="item.tick").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_tick_locks_the_release_before_its_item(project, release_engineer, platform_lead):
    """Every writer locks a release, then its item: a tick that waits for its item
    already holds the release, so a writer that took the release first never meets one
    holding the item and waiting for the release (a deadlock)."""
    import psycopg

    from checklists.services.releases import release_create
    from tests.factories import published_runbook

    published_runbook(project)
    release = release_create(
        project=project, title="t", owner=platform_lead, commit_sha="c" * 40,
        created_by=platform_lead,
    )  # fmt: skip
    target = item(release, "run-pnpm-lint-typecheck-test")
    items_table = ChecklistItem._meta.db_table
    releases_table = type(release)._meta.db_table
    outcome: list[str] = []
    with other_connection() as holder:  # holds the item alone, as no writer of ours ever does
        holder.execute(f"SELECT 1 FROM {items_table} WHERE id = %s FOR UPDATE", [target.pk])  # noqa: S608

        def tick() -> None:
            try:
                item_tick(item=target, user=release_engineer)
                outcome.append("done")
            except Exception as e:  # said by the failure below, not lost in the thread
                outcome.append(f"{type(e).__name__}: {e}")
            finally:
                connection.close()

        ticker = threading.Thread(target=tick)
        ticker.start()
        wait_until_blocked(ticker, "the tick", outcome, holder)
        with other_connection() as probe, pytest.raises(psycopg.errors.LockNotAvailable):
            probe.execute(
                f"SELECT 1 FROM {releases_table} WHERE id = %s FOR UPDATE NOWAIT",  # noqa: S608
                [release.pk],
            )
        holder.rollback()
        ticker.join(timeout=10)
    assert outcome == ["done"]


def test_a_form_opened_before_new_migrations_ticks_nothing(
    release_with_files, release_engineer, tmp_path, settings
):
    """The engineer uploaded new migrations while the tick form was open: the tick (and its
    evidence file) would vouch for migrations the person never looked at."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from checklists.services.errors import ChangedSinceOpened
    from checklists.services.migrations import release_upload_archive
    from tests.factories import DEMO_MIGRATIONS, supabase_archive

    settings.MEDIA_ROOT = tmp_path
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    seen = release_with_files.content_digest
    newer = {**DEMO_MIGRATIONS, "migrations/20250103000000_more.sql": "select 1;\n"}
    release_upload_archive(release=release_with_files, data=supabase_archive(newer),
                           filename="s.zip", actor=release_engineer)  # fmt: skip
    upload = SimpleUploadedFile("lint.txt", b"all green")
    with pytest.raises(ChangedSinceOpened, match="the migrations changed since you opened"):
        item_tick(item=target, user=release_engineer, expected_revision=target.revision,
                  seen_content=seen, upload=upload)  # fmt: skip
    target.refresh_from_db()
    assert target.state == "open"
    assert not Evidence.objects.filter(item=target).exists()
    assert not any(tmp_path.rglob("lint*")), "an evidence file was stored for nothing"
    with pytest.raises(ChangedSinceOpened, match="Nothing was marked not applicable"):
        item_mark_not_applicable(item=target, user=release_engineer, reason="covered",
                                 expected_revision=target.revision, seen_content=seen)  # fmt: skip
    release_with_files.refresh_from_db()
    item_tick(item=target, user=release_engineer,
              seen_content=release_with_files.content_digest)  # fmt: skip
    assert ChecklistItem.objects.get(pk=target.pk).state == "done"
