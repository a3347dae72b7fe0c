"""The release page: its order, its panels, what it reads, and its polled revision."""

from __future__ import annotations

import datetime
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from checklists.models import Evidence, MigrationFile, Release, Waiver
from checklists.services.items import evidence_add, item_mark_not_applicable
from checklists.services.releases import release_create
from migrations_ops.models import Job, Target
from tests.checklists.conftest import item
from tests.factories import PASSWORD, current_digest, published_runbook, settle_checklist

pytestmark = pytest.mark.django_db

# The release page's reads: session, user, the release (with its revision, its number of
# files and which panels have anything), roles, items, evidence, waivers, files,
# sign-offs, timeline, jobs, targets (the menu's projects come with the roles).
PAGE_QUERIES = 12
# With the panels cached at this revision: session, user, the release, roles (and menu).
CACHED_PAGE_QUERIES = 4
# The htmx tick's: session, user, the item with its release, roles; the service's
# transaction (here a savepoint), the release's and the item's lock in one statement
# (with whether a sign-off is live, whether it has evidence or waivers), its update, the
# change log (the chain head's lock, then the event with the head's move in one
# statement), the checklist part of the digest (one read: the files are not read again),
# the release's update, its digest snapshot, the commit (here the savepoint's release).
# An item with evidence and waivers reads them too (two more).
TICK_QUERIES = 13


def detail(release):
    return reverse("release_detail", kwargs={"pk": release.pk})


def with_files(release, n=200):
    MigrationFile.objects.bulk_create(
        MigrationFile(release=release, filename=f"2025{i:010d}_m.sql", version=f"2025{i:010d}",
                      name="m", sha256=f"{i:064x}", size=10, sql="select 1;",
                      down_filename=f"2025{i:010d}_m.down.sql" if i % 2 else "")
        for i in range(n)
    )  # fmt: skip
    release.refresh_from_db()
    return release


def with_jobs(release, n=8):
    Target.objects.get_or_create(project=release.project, name="staging", kind="staging")
    Job.objects.bulk_create(
        Job(project=release.project, release=release, kind="order", state="succeeded")
        for _ in range(n)
    )


@pytest.mark.parametrize("role", ["platform_lead", "qa_lead", "auditor"])
def test_the_release_page_reads_in_at_most_twelve_queries(
    client, personas, release, django_assert_max_num_queries, role
):
    with_files(release)
    with_jobs(release)
    assert release.items.count() == 13
    client.force_login(personas[role])
    client.get(detail(release))  # sessions and the like settle on the first request
    cache.clear()  # the panels are cached per revision: measure a cold render
    with django_assert_max_num_queries(PAGE_QUERIES):
        response = client.get(detail(release))
    assert response.status_code == 200
    # Again at the same revision: the cached panels, and only the page's own reads.
    with django_assert_max_num_queries(CACHED_PAGE_QUERIES):
        again = client.get(detail(release))
    assert (
        again.content.decode().split('id="release-live"')[1]
        == response.content.decode().split('id="release-live"')[1]
    )
    # The files table shows the first few dozen rows, and offers the rest.
    html = response.content.decode().replace("<wbr>", "")  # where a file name may wrap
    assert html.count('href="/releases/') >= 40
    assert "Show all 200 files" in html
    assert "20250000000039_m.sql" in html and "20250000000040_m.sql" not in html


@pytest.mark.parametrize("with_evidence", [False, True])
def test_the_htmx_tick_reads_and_writes_a_fixed_number_of_queries(
    client, personas, release, django_assert_max_num_queries, with_evidence
):
    """A tick reads the checklist once, never the release's 200 files nor the whole page."""
    with_files(release)
    with_jobs(release)
    target = item(release, "run-pnpm-lint-typecheck-test")
    # Another item settled first: the release is in pre-flight, as it is after its first
    # change (the move out of draft is an audited transition, four more queries once).
    item_mark_not_applicable(item=item(release, "verify-secrets-supabase-access-token"),
                             user=personas["platform_lead"], reason="none")  # fmt: skip
    if with_evidence:
        evidence_add(item=target, actor=personas["release_engineer"], kind=Evidence.Kind.LINK,
                     url="https://ci.example/1", summary="CI run")  # fmt: skip
        Waiver.objects.create(release=release, item=target, reason="the CI is down today",
                              content_digest=release.content_digest, release_digest="x",
                              asked_by=personas["release_engineer"])  # fmt: skip
    client.force_login(personas["release_engineer"])
    client.get(detail(release))  # sessions and the like settle on the first request
    target.refresh_from_db()
    url = reverse("item_tick", kwargs={"pk": release.pk, "item_pk": target.pk})
    with django_assert_max_num_queries(TICK_QUERIES + (2 if with_evidence else 0)):
        response = client.post(url, {"revision": target.revision}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Trigger"] == "release-changed"
    html = response.content.decode()
    assert html.lstrip().startswith(f'<li id="item-{target.pk}"') and "✓ Done" in html
    assert ("CI run" in html and "the CI is down today" in html) is with_evidence
    target.refresh_from_db()
    assert target.state == "done"


def test_every_file_on_demand_and_only_for_members(client, personas, release):
    with_files(release, 60)
    url = reverse("release_files", kwargs={"pk": release.pk})
    client.force_login(personas["qa_lead"])
    html = client.get(url, headers={"HX-Request": "true"}).content.decode()
    html = html.replace("<wbr>", "")  # where a file name may wrap
    assert html.count("<tr>") == 60 and "20250000000059_m.sql" in html
    # The SHA and the down script are there, not clipped away.
    assert f"{59:064x}"[:12] in html and "20250000000059_m.down.sql" in html
    client.force_login(personas["outsider"])
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 404


def test_the_page_follows_the_runbooks_order_and_an_empty_release_leads_with_the_upload(
    client, personas, release
):
    client.force_login(personas["platform_lead"])
    html = client.get(detail(release)).content.decode()
    order = ['id="files"', 'id="jobs-panel"', 'id="checklist"', 'id="backups-panel"',
             'id="signoffs"', 'id="gate"', 'id="apply"']  # fmt: skip
    positions = [html.index(marker) for marker in order]
    assert positions == sorted(positions)
    # The upload is open and first; jobs that cannot succeed say why they are disabled.
    assert html.index("Store migrations") < html.index('id="jobs-panel"')
    assert "<details open>" in html.split('id="files"', 1)[1].split("</section>", 1)[0]
    panel = html.split('id="jobs-panel"', 1)[1].split("</section>", 1)[0]
    assert 'disabled aria-describedby="jobs-blocked">Run pre-flight' in panel
    assert "Upload the release&#x27;s migrations first" in panel
    # ...and nothing on the panel asks for what is disabled.
    assert "Run the pre-flight to check" not in panel
    backups = html.split('id="backups-panel"', 1)[1].split("</section>", 1)[0]
    assert 'disabled aria-describedby="backup-blocked">Capture backup' in backups


def test_with_migrations_the_jobs_are_enabled_and_apply_preselects_nothing(
    client, personas, release_with_files
):
    Target.objects.create(project=release_with_files.project, name="production",
                          kind="production", url_env_var="X")  # fmt: skip
    client.force_login(personas["platform_lead"])
    html = client.get(detail(release_with_files)).content.decode()
    assert "jobs-blocked" not in html and "backup-blocked" not in html
    apply = html.split('id="apply"', 1)[1].split("</section>", 1)[0]
    assert '<option value="" selected>Choose a target…</option>' in apply
    assert "selected" not in apply.replace('<option value="" selected>', "")


def test_checklist_text_is_rendered_markdown_with_the_owners_name(client, personas, release):
    client.force_login(personas["qa_lead"])
    html = client.get(detail(release)).content.decode()
    assert "@&lt;name&gt;" not in html and "`@" not in html
    assert f"<code>@{release.owner.get_username()}</code>" in html


def test_done_sections_collapse_and_older_evidence_waits_behind_a_toggle(
    client, personas, release_with_files
):
    lead = personas["platform_lead"]
    target = item(release_with_files, "run-pnpm-lint-typecheck-test")
    section = target.step.section
    for i in release_with_files.items.filter(
        step__section=section, step__is_signoff=False, step__requires_evidence=False
    ):
        item_mark_not_applicable(item=i, user=lead, reason="settled")
    # Evidence-required items are settled by a waiver (a second lead approves).
    settle_checklist(
        release_with_files,
        lead,
        reason="settled by waiver",
        skip=tuple(i.step.key for i in release_with_files.items.exclude(step__section=section)),
    )
    for n in range(3):
        Evidence.objects.create(item=target, kind="job", status="passed", summary=f"run {n}")
    client.force_login(personas["qa_lead"])
    html = client.get(detail(release_with_files)).content.decode()
    done = html.split('<details class="section section-done"', 1)[1].split(">", 1)[0]
    assert " open" not in done
    li = html.split(f'id="item-{target.pk}"', 1)[1].split('<li id="item-', 1)[0]
    assert "run 2" in li.split("older-evidence")[0]
    assert "2 older runs" in li and "run 0" in li.split("older-evidence")[1]


def test_the_timeline_hides_job_starts_and_ends_until_asked(client, personas, release):
    from migrations_ops.jobs.dispatch import record_job_end

    job = Job.objects.create(project=release.project, release=release, kind="order",
                             state="succeeded")  # fmt: skip
    record_job_end(job, actor=None)
    client.force_login(personas["qa_lead"])
    html = client.get(detail(release)).content.decode()
    timeline = html.split('id="timeline"', 1)[1].split("</section>", 1)[0]
    assert '<li class="ev-job" data-action="job.finish">' in timeline
    assert "Show job starts and ends (1)" in timeline
    rows = timeline.split("<li")[1:]
    assert any("release.create" in row for row in rows if not row.startswith(' class="ev-job"'))


def test_times_read_as_utc_words_everywhere():
    when = datetime.datetime(
        2026, 12, 5, 15, 3, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    rendered = Template("{{ a|utc_time }}|{{ b|utc_time }}|{{ c|utc_time }}").render(
        Context({"a": when, "b": when.isoformat(), "c": None})
    )
    assert rendered == "2026-12-05 14:03 UTC|2026-12-05 14:03 UTC|"


def test_the_revision_poll_is_tiny_and_only_for_members(client, personas, release):
    url = reverse("release_revision", kwargs={"pk": release.pk})
    client.force_login(personas["auditor"])
    first = client.get(url)
    assert first.status_code == 200
    revision = first.json()["revision"]
    with CaptureQueriesContext(connection) as queries:
        same = client.get(url, {"known": revision})
    assert same.status_code == 204 and same.content == b""
    # session, user, roles, and the one indexed read of the revision
    assert len(queries) <= 4
    item_mark_not_applicable(
        item=release.items.filter(step__requires_evidence=False).first(),
        user=personas["platform_lead"], reason="moved on",
    )  # fmt: skip
    moved = client.get(url, {"known": revision})
    assert moved.status_code == 200 and moved.json()["revision"] > revision
    client.force_login(personas["outsider"])
    assert client.get(url).status_code == 404


def test_signing_with_htmx_shows_a_wrong_password_in_place_then_drops_the_form(
    client, personas, release_with_files
):
    lead = personas["platform_lead"]
    settle_checklist(release_with_files, lead, reason="settled")
    client.force_login(lead)
    html = client.get(detail(release_with_files)).content.decode()
    assert "to sign as Release owner" in html and "Releaseowner" not in html
    url = reverse("release_signoff", kwargs={"pk": release_with_files.pk})
    seen = current_digest(release_with_files)
    wrong = client.post(url, {"kind": "release_owner", "password": "nope", "seen_digest": seen},
                        headers={"HX-Request": "true"})  # fmt: skip
    assert wrong.status_code == 422 and wrong["X-Portal-Fragment"] == "1"
    body = wrong.content.decode()
    assert body.lstrip().startswith('<section id="signoffs"')
    assert 'role="alert"' in body and "password" in body.lower()
    assert "HX-Trigger" not in wrong
    right = client.post(url, {"kind": "release_owner", "password": PASSWORD, "seen_digest": seen},
                        headers={"HX-Request": "true"})  # fmt: skip
    assert right.status_code == 200 and right["HX-Trigger"] == "release-changed"
    body = right.content.decode()
    assert "Signed off" in body and 'name="password"' not in body
    assert Release.objects.get(pk=release_with_files.pk).state == "approved"


def test_another_projects_member_cannot_sign_through_htmx(client, personas, release_with_files):
    client.force_login(personas["outsider"])
    url = reverse("release_signoff", kwargs={"pk": release_with_files.pk})
    response = client.post(url, {"kind": "release_owner", "password": PASSWORD},
                           headers={"HX-Request": "true"})  # fmt: skip
    assert response.status_code == 404


def _many_releases(project, owner, n):
    from checklists.models import ChecklistItem

    version = project.runbook_versions.first()
    releases = Release.objects.bulk_create(
        Release(project=project, title=f"r{i}", owner=owner, commit_sha=f"{i:040x}",
                runbook_version=version, created_by=owner)
        for i in range(n)
    )  # fmt: skip
    steps = list(version.steps.all())
    ChecklistItem.objects.bulk_create(
        ChecklistItem(release=r, step=step) for r in releases for step in steps
    )


@pytest.mark.parametrize("url", ["/", "/releases/"])
def test_dashboard_and_release_list_read_as_much_with_many_releases_as_with_few(
    client, personas, project, url
):
    published_runbook(project)
    lead = personas["platform_lead"]
    release_create(project=project, title="one", owner=lead, commit_sha="b" * 40, created_by=lead)
    client.force_login(personas["qa_lead"])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _many_releases(project, lead, 120)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"][:120] for q in many]


def test_a_change_moves_the_cached_page_on(client, personas, release):
    client.force_login(personas["qa_lead"])
    target = release.items.filter(step__is_signoff=False, step__requires_evidence=False).first()
    first = client.get(detail(release)).content.decode()
    assert f'id="item-{target.pk}" class="item item-open"' in first
    item_mark_not_applicable(item=target, user=personas["platform_lead"], reason="moved on")
    second = client.get(detail(release)).content.decode()
    assert f'id="item-{target.pk}" class="item item-not_applicable"' in second


def test_the_cached_page_is_never_shared_between_readers(client, personas, release):
    client.force_login(personas["platform_lead"])
    lead_page = client.get(detail(release)).content.decode()
    assert "Cancel this release" in lead_page
    client.force_login(personas["auditor"])
    auditor_page = client.get(detail(release)).content.decode()
    assert "Cancel this release" not in auditor_page
    assert 'name="csrfmiddlewaretoken"' not in auditor_page.split('id="release-live"')[1] or (
        auditor_page != lead_page
    )


def test_the_timeline_renders_names_as_the_checklist_does_and_never_their_html(
    client, personas, release
):
    target = release.items.filter(step__is_signoff=False, step__requires_evidence=False).first()
    target.step.text = "Run `supabase db lint` <script>alert(1)</script> first"
    target.step.save(update_fields=["text"])
    target.refresh_from_db()
    item_mark_not_applicable(item=target, user=personas["platform_lead"], reason="moved on")
    client.force_login(personas["qa_lead"])
    html = client.get(detail(release)).content.decode()
    timeline = html.split('id="timeline"', 1)[1].split("</section>", 1)[0]
    row = next(r for r in timeline.split("<li")[1:] if "item.not_applicable" in r)
    assert "<code>supabase db lint</code>" in row and "`" not in row
    assert "<script" not in row and "&lt;script&gt;alert(1)&lt;/script&gt;" in row


def test_the_timeline_says_what_happened_in_words(client, personas, release):
    from migrations_ops.jobs.dispatch import record_job_end

    target = release.items.filter(step__evidence_kinds__contains=["job:order"]).get()
    other = release.items.filter(step__is_signoff=False, step__requires_evidence=False).first()
    # A long name with a colon: the event copied it cut at 80 characters.
    other.step.text = "Smoke: run `pnpm run test:unit` and " + " then `pnpm run test:auth`" * 3
    other.step.save(update_fields=["text"])
    item_mark_not_applicable(item=other, user=personas["platform_lead"], reason="done by CI")
    job = Job.objects.create(project=release.project, release=release, kind="order",
                             state="succeeded", ok=True, summary="3 files in order")  # fmt: skip
    record_job_end(job, actor=None)
    client.force_login(personas["qa_lead"])
    html = client.get(detail(release)).content.decode()
    timeline = html.split('id="timeline"', 1)[1].split("</section>", 1)[0]
    text = " ".join(re.sub(r"<[^>]+>", "", timeline).split())
    # As the change log says it, never the action's code or the item's "<release id>: ".
    name = re.sub(r"<[^>]+>", "", _rendered(other))
    assert f"lead marked not applicable “{name}”: done by CI" in text
    assert f"job #{job.pk} added job evidence to “" in text
    assert re.sub(r"<[^>]+>", "", _rendered(target)) in text
    assert ": 3 files in order" in text
    assert "evidence.add" not in text and "item.not_applicable" not in text
    assert f"{release.pk}: " not in text


def _rendered(item):
    from checklists.templatetags.checklist_text import step_html

    return " ".join(str(step_html(item.step.text)).split())


def _marks(html: str, card_id: str) -> dict[str, str]:
    """The card's kind marks, by their label."""
    card = html.split(f'id="{card_id}"', 1)[1].split('class="kind-marks"', 1)[1]
    rows = re.findall(r'<li class="kind-mark[^"]*">(.*?)</li>', card.split("</ul>", 1)[0], re.S)
    return {
        re.sub(r"<[^>]+>|✓", "", row.split('<span class="muted small">', 1)[0]).strip(): row
        for row in rows
    }


def test_a_kind_whose_newest_job_for_these_files_succeeded_is_marked_done(
    client, personas, release_with_files, other_project
):
    release = release_with_files
    project, digest = release.project, release.content_digest
    staging = Target.objects.create(project=project, name="staging", kind="staging",
                                    url_env_var="S")  # fmt: skip
    production = Target.objects.create(project=project, name="production", kind="production",
                                       url_env_var="P")  # fmt: skip

    def job(kind, state, *, target=staging, content=digest, of=release):
        return Job.objects.create(project=of.project, release=of, kind=kind, state=state,
                                  target=target, content_digest=content)  # fmt: skip

    job("order", "failed")
    job("order", "succeeded")  # the newest order job passed
    job("dry_run", "succeeded")
    job("dry_run", "failed")  # the newest dry run failed
    job("rls", "succeeded", content="0" * 64)  # passed, but for earlier files
    job("apply", "succeeded")
    job("apply", "failed", target=production)
    # Another project's release, with the same content, counts for nothing here.
    published_runbook(other_project)
    theirs = release_create(project=other_project, title="theirs", owner=personas["outsider"],
                            commit_sha="c" * 40, created_by=personas["outsider"])  # fmt: skip
    job("drift", "succeeded", target=None, of=theirs)

    client.force_login(personas["qa_lead"])
    html = client.get(detail(release)).content.decode()

    check = '<span class="check" aria-label="done">✓</span>'
    preflight = _marks(html, "jobs-panel")
    assert check in preflight["Migration order"] and "passed" in preflight["Migration order"]
    assert (
        check not in preflight["Dry run on staging"] and "failed" in preflight["Dry run on staging"]
    )
    assert check not in preflight["RLS tests"] and "ran for earlier files" in preflight["RLS tests"]
    # Not run for this release (the other project's job is not this release's).
    assert "not run yet" in preflight["Schema drift"] and "<a " not in preflight["Schema drift"]
    assert sum(check in row for row in preflight.values()) == 1
    applied = _marks(html, "live-apply")
    assert list(applied) == ["Applied to production", "Applied to staging"]
    assert check in applied["Applied to staging"] and check not in applied["Applied to production"]
    # The flow's labels: pre-flight is not done while any kind is not, nor apply until
    # production's apply of these files passed.
    assert 'class="flow-label is-done" id="step-preflight"' not in html
    assert 'class="flow-label is-done" id="step-apply"' not in html


def test_the_pre_flight_and_apply_steps_are_done_when_every_kind_passed(
    client, personas, release_with_files
):
    from migrations_ops.jobs.kinds import PREFLIGHT_KINDS

    release = release_with_files
    production = Target.objects.create(project=release.project, name="production",
                                       kind="production", url_env_var="P")  # fmt: skip
    Job.objects.bulk_create(
        Job(project=release.project, release=release, kind=kind, state="succeeded",
            target=production if kind == "apply" else None,
            content_digest=release.content_digest)
        for kind in (*PREFLIGHT_KINDS, "apply")
    )  # fmt: skip
    client.force_login(personas["auditor"])
    html = client.get(detail(release)).content.decode()
    assert 'class="flow-label is-done" id="step-preflight"' in html
    assert 'class="flow-label is-done" id="step-apply"' in html
    assert len(_marks(html, "jobs-panel")) == len(PREFLIGHT_KINDS)


def test_jobs_never_push_peoples_events_off_the_timeline(client, personas, release):
    from migrations_ops.jobs.dispatch import audit_job

    other = release.items.filter(step__is_signoff=False, step__requires_evidence=False).first()
    item_mark_not_applicable(item=other, user=personas["platform_lead"], reason="done by CI")
    job = Job.objects.create(project=release.project, release=release, kind="order",
                             state="succeeded")  # fmt: skip
    for n in range(60):  # a busy day of pre-flights after it
        audit_job(job, actor=None, action="job.start" if n % 2 else "job.finish", data={})
    client.force_login(personas["qa_lead"])
    html = client.get(detail(release)).content.decode()
    timeline = html.split('id="timeline"', 1)[1].split("</section>", 1)[0]
    assert 'data-action="item.not_applicable"' in timeline
    assert 'data-action="release.create"' in timeline
    # The job rows are there, behind their toggle, up to what the timeline reads.
    assert timeline.count('class="ev-job"') == 60
    assert "Show job starts and ends (60)" in timeline


def test_the_backup_step_is_done_by_a_verified_backup_of_production_and_shows_each_target(
    client, personas, release_with_files
):
    """The panel showed only the newest backup of any target ("Latest: … of staging
    Verified") and step 4 took its check mark from it, while only a backup of production
    proves the runbook's step: production's failed restore check was hidden."""
    from django.utils import timezone

    from migrations_ops.models import BackupManifest

    release = release_with_files
    now = timezone.now()
    targets = {
        kind: Target.objects.create(
            project=release.project, name=kind, kind=kind, url_env_var=kind.upper()
        )
        for kind in ("production", "staging")
    }

    def backup(kind, minutes_ago, state):
        at = now - datetime.timedelta(minutes=minutes_ago)
        return BackupManifest.objects.create(
            project=release.project, release=release, target=targets[kind], schemas=["app"],
            location="/x", file_name=f"{kind}-{minutes_ago}.sql", file_key=f"{kind}{minutes_ago}",
            manifest_key="m", sha256="a" * 64, size=8, started_at=at, finished_at=at,
            verify_state=state,
        )  # fmt: skip

    backup("production", 30, "passed")  # older, superseded by the failed one below
    backup("production", 20, "failed")
    backup("staging", 10, "passed")
    client.force_login(personas["sre"])
    html = client.get(detail(release)).content.decode()
    panel = html.split('id="backups-panel"', 1)[1].split("</section>", 1)[0]
    shown = re.findall(r'data-target="(\w+)"', panel)
    assert shown == ["staging", "production"]
    assert "production-20.sql" in panel and "production-30.sql" not in panel
    assert 'class="flow-label is-done" id="step-backup"' not in html
    backup("production", 5, "passed")
    cache.clear()
    html = client.get(detail(release)).content.decode()
    assert 'class="flow-label is-done" id="step-backup"' in html
