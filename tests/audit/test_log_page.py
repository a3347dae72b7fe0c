"""The change-log page: who sees what, in words, filters, keyset pages, escaping and its
query count."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from release_portal.audit.models import AuditChainHead
from release_portal.audit.services import audit_record
from tests.audit.conftest import record
from tests.checklists.reports.factories import ReleaseFactory
from tests.factories import MembershipFactory
from tests.html import inline_code

URL = reverse("audit_log")


class ChecklistItem:
    """Stands for a checklist item: what audit_record copies from one."""

    def __init__(self, release, pk: int = 45) -> None:
        self.pk, self.release, self.release_id = pk, release, release.pk

    def __str__(self) -> str:
        return f"{self.release_id}: RLS Docker test suite passed"


MEMBER_ROLES = ["platform_lead", "release_engineer", "qa_lead", "sre", "auditor"]


def seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<li class="audit-line" id="event-(\d+)">', html)]


def get(client, user, **params):
    client.force_login(user)
    return client.get(URL, params)


@pytest.mark.parametrize("role", MEMBER_ROLES)
def test_it_shows_every_member_their_projects_events_only(client, personas, events, role):
    response = get(client, personas[role])
    assert response.status_code == 200
    assert seqs(response.content.decode()) == [e.seq for e in reversed(events["ours"])]


def test_it_shows_the_outsider_only_their_own_projects_events(client, personas, events):
    html = get(client, personas["outsider"]).content.decode()
    assert seqs(html) == [e.seq for e in reversed(events["theirs"])]
    assert "Ibimina" not in html


def test_it_shows_events_without_a_project_to_nobody(client, personas, events, django_user_model):
    loner = django_user_model.objects.create_user("loner", password="x-very-long-pass")
    assert seqs(get(client, loner).content.decode()) == []
    assert events["nobody"][0].seq not in seqs(
        get(client, personas["platform_lead"]).content.decode()
    )


def test_it_sends_anonymous_visitors_to_sign_in(client, events):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_it_is_in_the_navigation_with_the_head_hashes(client, personas, events):
    html = get(client, personas["qa_lead"]).content.decode()
    assert f'href="{URL}" aria-current="page">Audit log' in html
    head = AuditChainHead.objects.get()
    assert head.hash in html and head.public_hash in html and f"#{head.seq}" in html
    assert "Last signed checkpoint" in html and "none yet" in html
    assert f'href="{reverse("audit_public_key")}"' in html


def test_it_filters_by_project_release_person_and_event_type(
    client, personas, project, other_project
):
    lead = personas["platform_lead"]
    MembershipFactory(user=lead, project=other_project, role="auditor")
    release = ReleaseFactory(project=project, owner=lead)
    tick = record("item.tick", release=release, actor="qa")
    untick = record("item.untick", release=release, actor="Nia")
    signoff = record("signoff.give", release=release, actor="lead")
    loose = record("item.tick", project=project, actor="qa")
    elsewhere = record("item.tick", project=other_project, actor="qa")

    assert seqs(get(client, lead).content.decode()) == [
        elsewhere.seq, loose.seq, signoff.seq, untick.seq, tick.seq
    ]  # fmt: skip
    assert seqs(get(client, lead, project=other_project.pk).content.decode()) == [elsewhere.seq]
    assert seqs(get(client, lead, release=release.pk).content.decode()) == [
        signoff.seq, untick.seq, tick.seq
    ]  # fmt: skip
    assert seqs(get(client, lead, actor="NIA").content.decode()) == [untick.seq]
    for family in ("item.*", "item."):
        assert seqs(get(client, lead, action=family).content.decode()) == [
            elsewhere.seq, loose.seq, untick.seq, tick.seq
        ]  # fmt: skip
    assert seqs(get(client, lead, action="item.tick", project=project.pk).content.decode()) == [
        loose.seq, tick.seq
    ]  # fmt: skip


def test_it_filters_by_utc_date_range(client, personas, project, monkeypatch):
    def at(day: int, hour: int):
        moment = datetime(2026, 3, day, hour, 0, tzinfo=UTC)
        monkeypatch.setattr(timezone, "now", lambda: moment)
        return record("item.tick", project=project)

    early, first, last, late = at(1, 23), at(2, 0), at(3, 23), at(4, 0)
    monkeypatch.undo()
    html = get(client, personas["auditor"], since="2026-03-02", until="2026-03-03").content
    assert seqs(html.decode()) == [last.seq, first.seq]
    assert seqs(get(client, personas["auditor"], since="2026-03-04").content.decode()) == [late.seq]
    assert seqs(get(client, personas["auditor"], until="2026-03-01").content.decode()) == [
        early.seq
    ]
    backwards = get(client, personas["auditor"], since="2026-03-04", until="2026-03-01")
    assert backwards.status_code == 400
    assert "end date comes before the start date" in backwards.content.decode()


def walk(client, user, start_params, link_rel):
    """Follow a pager link (rel=next: older, rel=prev: newer) until it disappears."""
    client.force_login(user)
    pages, url = [], URL + start_params
    while url:
        html = client.get(url).content.decode()
        pages.append(seqs(html))
        found = re.search(rf'rel="{link_rel}" href="([^"]+)"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    return pages


def test_it_pages_by_seq_without_duplicates_or_gaps(client, personas, project, other_project):
    ours = []
    for i in range(123):
        ours.append(record("item.tick", project=project, data={"i": i}).seq)
        if i % 10 == 0:
            record("item.tick", project=other_project)  # interleaved, never shown
    pages = walk(client, personas["auditor"], "", "next")
    assert [len(p) for p in pages] == [50, 50, 23]
    assert [s for page in pages for s in page] == sorted(ours, reverse=True)
    # And back up again from the oldest page, by the "newer" links.
    back = walk(client, personas["auditor"], f"?before={pages[-1][-1] + 1}", "prev")
    assert [s for page in reversed(back) for s in page] == sorted(ours, reverse=True)


def test_it_pages_within_a_filter(client, personas, project):
    wanted = [record("item.tick", project=project).seq for _ in range(60)]
    for _ in range(5):
        record("job.enqueue", project=project)
    pages = walk(client, personas["auditor"], "?action=item.tick", "next")
    assert [len(p) for p in pages] == [50, 10]
    assert [s for page in pages for s in page] == sorted(wanted, reverse=True)


@pytest.mark.parametrize(
    "params",
    [{"before": "abc"}, {"before": "-5"}, {"before": str(2**70)}, {"after": "1e9"},
     {"before": "5", "after": "2"}, {"release": "99999999999999999999999"}, {"project": "999"},
     {"release": "12345"}, {"action": "item'; drop"}, {"object": "not an object"}],
)  # fmt: skip
def test_it_refuses_tampered_paging_and_filters_without_showing_events(
    client, personas, events, params
):
    response = get(client, personas["qa_lead"], **params)
    assert response.status_code == 400
    assert seqs(response.content.decode()) == []
    assert "Check the filter" in response.content.decode()


def test_it_names_a_bad_filter_by_its_label_on_the_page_and_in_the_exports(
    client, personas, events
):
    """Not by its name in the URL ("until"), and never as JSON."""
    params = {"since": "2026-12-05", "until": "2026-12-01", "before": "abc"}
    html = get(client, personas["auditor"], **params).content.decode()
    assert "<li>To (UTC): The end date comes before the start date.</li>" in html
    assert "<li>Page (events before #): Enter a whole number.</li>" in html
    assert "until:" not in html and "before:" not in html
    for name in ("audit_export_csv", "audit_export_jsonl"):
        response = client.get(reverse(name), params)
        assert response.status_code == 400
        assert response.content.decode() == (
            "The filter is not valid: Page (events before #): Enter a whole number. "
            "To (UTC): The end date comes before the start date.\n"
        )


def test_it_never_pages_into_another_projects_events(client, personas, events):
    theirs = events["theirs"][-1].seq
    html = get(client, personas["qa_lead"], before=theirs + 1).content.decode()
    assert theirs not in seqs(html)
    assert seqs(html) == [e.seq for e in reversed(events["ours"])]


def test_it_escapes_user_text_and_keeps_the_csp(client, personas, project):
    record(
        "item.<script>alert(1)</script>",
        project=project,
        actor="<img src=x onerror=alert(2)>",
        data={"comment": "<script>alert(3)</script>", "before": {"note": "<b>x</b>"}, "after": {}},
    )
    html = get(client, personas["qa_lead"]).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert inline_code(html) == []


def test_it_shows_data_as_before_and_after_on_demand(client, personas, project):
    record(
        "item.tick",
        project=project,
        data={"before": {"state": "open", "by": None}, "after": {"state": "done", "by": "qa"}},
    )
    record("release.move", project=project, data={"state": {"from": "draft", "to": "preflight"}})
    html = get(client, personas["qa_lead"]).content.decode()
    # Each event is one line; its data, every key of it, opens on demand.
    assert html.count('<details class="audit-more">') == 2
    assert "(+" not in html and "more)" not in html
    assert '<tr class="diff-chg">\n                <th scope="row">state</th>' in html
    assert '<td class="mono">open</td><td class="mono">done</td>' in html
    assert '<td class="mono">draft</td><td class="mono">preflight</td>' in html


def test_it_says_each_event_in_words_with_its_detail_after_the_release(client, personas, project):
    release = ReleaseFactory(project=project, owner=personas["platform_lead"], title="Ledger v2")
    with transaction.atomic():
        audit_record(
            actor=personas["qa_lead"],
            action="item.tick",
            obj=ChecklistItem(release),
            release=release,
            data={"step": "rls-docker", "from": "open", "to": "done", "comment": "all green"},
        )
    release.title = "Renamed later"
    release.save()
    html = get(client, personas["auditor"]).content.decode()
    sentence = re.search(
        r'<span class="audit-sentence">(.*?)</span>\s*<span class="audit-tags">', html, re.S
    )
    assert sentence is not None
    text = re.sub(r"<[^>]+>", "", sentence.group(1))
    assert " ".join(text.split()) == (
        f"qa ticked “RLS Docker test suite passed” on release R-{release.pk}: all green"
    )
    # Names were copied when the event was written: the rename does not change the log
    # (the release picker, which lists releases as they are now, shows the new name).
    events_html = html.split('id="audit-events"', 1)[1]
    assert f'title="Ledger v2 ({release.commit_sha[:8]})"' in events_html
    assert "Renamed later" not in events_html


def test_it_falls_back_to_the_action_in_words_for_unknown_events(client, personas, project):
    record("thing.did_something", project=project, actor="nia")
    html = get(client, personas["qa_lead"]).content.decode()
    assert "<strong>nia</strong> thing did something" in html
    assert (
        '<code class="audit-action" title="Thing did something">thing.did_something</code>' in html
    )


def test_it_hides_worker_and_system_events_on_request(client, personas, project):
    person = record("item.tick", project=project, actor="qa")
    worker = record("job.finish", project=project, actor="worker w1 pid 7", kind="system")
    assert seqs(get(client, personas["qa_lead"]).content.decode()) == [worker.seq, person.seq]
    assert seqs(get(client, personas["qa_lead"], hide_system="on").content.decode()) == [person.seq]


def test_it_links_each_item_and_release_to_its_history(client, personas, project):
    release = ReleaseFactory(project=project, owner=personas["platform_lead"])
    item = ChecklistItem(release)
    first = record("item.tick", release=release, obj=item)
    record("item.tick", release=release, obj=ChecklistItem(release, pk=46))
    second = record("item.untick", release=release, obj=item)
    html = get(client, personas["qa_lead"]).content.decode()
    assert f'href="{URL}?object=ChecklistItem%3A45">History of this checklist item</a>' in html
    assert f'href="{URL}?release={release.pk}">History of release R-{release.pk}</a>' in html
    history = get(client, personas["qa_lead"], object="ChecklistItem:45").content.decode()
    assert seqs(history) == [second.seq, first.seq]
    assert "history of ChecklistItem:45" in history


def named(type_name: str, pk: int, release) -> object:
    """Stands for an object of another app: its class name is what the log records."""
    obj = type(type_name, (), {"__str__": lambda self: f"{type_name} #{pk}"})()
    obj.pk, obj.release, obj.release_id = pk, release, release.pk
    return obj


def test_an_events_object_links_to_its_page_where_it_has_one(client, personas, project):
    """An event's details read "Object: BackupManifest #2: …" with no way to the backup
    (nor to the job, the rollback plan or the incident) the auditor was reading about."""
    release = ReleaseFactory(project=project, owner=personas["platform_lead"])
    for type_name, pk in [("BackupManifest", 2), ("Job", 7), ("RollbackPlan", 3),
                          ("Incident", 4)]:  # fmt: skip
        record("thing.done", release=release, obj=named(type_name, pk, release))
    record("item.tick", release=release, obj=ChecklistItem(release))
    html = get(client, personas["auditor"]).content.decode()
    assert '<dt>Object</dt><dd><a href="/backups/2/">Backup manifest #2</a>' in html
    assert '<dt>Object</dt><dd><a href="/jobs/7/">Job #7</a>' in html
    assert '<dt>Object</dt><dd><a href="/rollbacks/3/">Rollback plan #3</a>' in html
    assert '<dt>Object</dt><dd><a href="/incidents/4/">Incident #4</a>' in html
    # An object without a page of its own reads in words, unlinked.
    assert "<dt>Object</dt><dd>Checklist item #45: " in html
    # A name that starts with the label and id is not said twice.
    record("incident.opened", release=release, obj=named("Incident", 5, release))
    html = get(client, personas["auditor"]).content.decode()
    assert '<a href="/incidents/5/">Incident #5</a></dd>' in html


def test_it_picks_releases_by_name_not_by_id(client, personas, project, other_project):
    ours = ReleaseFactory(project=project, owner=personas["platform_lead"], title="Ledger v2")
    theirs = ReleaseFactory(project=other_project, owner=personas["outsider"], title="Secret")
    html = get(client, personas["qa_lead"]).content.decode()
    assert f'<option value="{ours.pk}">R-{ours.pk} Ledger v2</option>' in html
    assert "Secret" not in html
    assert get(client, personas["qa_lead"], release=theirs.pk).status_code == 400


def test_it_offers_event_types_by_family(client, personas, events):
    html = get(client, personas["qa_lead"]).content.decode()
    assert '<optgroup label="Checklist items">' in html
    assert '<option value="item.tick">Item ticked</option>' in html
    assert '<option value="item.*">Any: checklist items</option>' in html


def test_it_links_events_to_their_release(client, personas, project):
    release = ReleaseFactory(project=project, owner=personas["platform_lead"], title="Ledger v2")
    record("item.tick", release=release)
    html = get(client, personas["qa_lead"]).content.decode()
    title = f"Ledger v2 ({release.commit_sha[:8]})"
    assert f'href="/releases/{release.pk}/" title="{title}">release R-{release.pk}</a>' in html


def test_it_answers_htmx_with_the_events_fragment(client, personas, events):
    client.force_login(personas["qa_lead"])
    response = client.get(URL, {"action": "item.*"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card" id="audit-events"')
    assert "<html" not in html
    assert seqs(html) == [events["ours"][1].seq]
    # A history restore (back button with htmx's cache off) needs the whole page.
    restore = client.get(URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.content.decode()


def test_the_filter_form_works_with_and_without_javascript(client, personas, events):
    html = get(client, personas["qa_lead"]).content.decode()
    assert f'<form method="get" action="{URL}" class="filters" hx-get="{URL}"' in html
    assert 'hx-push-url="true"' in html


@pytest.mark.parametrize("role", ["platform_lead", "auditor"])
def test_it_offers_exports_and_the_chain_check_to_leads_and_auditors(
    client, personas, events, role
):
    html = get(client, personas[role]).content.decode()
    assert "Export CSV" in html and "Export JSON Lines" in html and "Verify chain" in html


@pytest.mark.parametrize("role", ["release_engineer", "qa_lead", "sre"])
def test_it_offers_no_exports_or_chain_check_to_other_roles(client, personas, events, role):
    html = get(client, personas[role]).content.decode()
    assert "Export CSV" not in html and "Verify chain" not in html


def test_it_carries_the_filter_into_the_export_links(client, personas, events, project):
    html = get(client, personas["auditor"], action="item.*", before=99).content.decode()
    assert f'href="{reverse("audit_export_csv")}?action=item.%2A">Export CSV' in html


@pytest.mark.parametrize("rows", [3, 60])
def test_it_pins_its_query_count_whatever_the_rows(
    client, personas, project, django_assert_max_num_queries, rows
):
    lead = personas["platform_lead"]
    releases = [ReleaseFactory(project=project, owner=lead) for _ in range(3)]
    for i in range(rows):
        record("item.tick", release=releases[i % 3], data={"i": i})
        record("evidence.add", release=releases[i % 3], data={"step": f"step-{i}", "kind": "job"})
    client.force_login(lead)
    # session, user, memberships (roles, cached per request), projects for the filter, the
    # release picker, the people suggested, chain head, last checkpoint, signing keys, last
    # chain check, one page of events (names were copied into them: no lookups per row),
    # the texts of the steps its item and evidence events name (one query for the page), the
    # menu's projects in the shell: 13, whatever the number of rows or releases.
    with django_assert_max_num_queries(13):
        response = client.get(URL)
    assert len(seqs(response.content.decode())) == min(2 * rows, 50)


def test_it_names_the_item_evidence_was_added_to_by_the_items_own_words(client, personas, project):
    """What the auditor read: "job #2 added job evidence for
    confirm-supabase-migrations-order-chronological" (the step's key, the item's words
    nowhere). Evidence now names its item as the release page's timeline does: the step's
    text, its Markdown rendered and @<name> the release's owner; events written before
    this change too (each copied its release and its step's key, and is stored unchanged)."""
    from checklists.services.releases import release_create
    from migrations_ops.jobs.dispatch import record_job_end
    from migrations_ops.models import Job
    from release_portal.audit.models import AuditEvent
    from tests.factories import published_runbook

    published_runbook(project)
    lead = personas["platform_lead"]
    release = release_create(project=project, title="Members", owner=lead, commit_sha="a" * 40,
                             created_by=lead)  # fmt: skip
    item = release.items.filter(step__evidence_kinds__contains=["job:order"]).get()
    item.step.text = "Confirm `supabase/migrations` order, checked by @<name>"
    item.step.save(update_fields=["text"])
    job = Job.objects.create(project=project, release=release, kind="order",
                             state="succeeded", ok=True, summary="3 files in order")  # fmt: skip
    with transaction.atomic():
        record_job_end(job, actor=None)
    stored = AuditEvent.objects.filter(action="evidence.add")
    assert stored.filter(data__step=item.step.key).exists()  # the data it always had
    before, ours = stored.count(), stored.filter(actor_name=f"job #{job.pk}").count()
    # As an event written before this change reads (and one whose step is not found).
    record("evidence.add", project=project, release=release, actor="qa",
           data={"step": item.step.key, "kind": "link", "summary": "https://ci/run/7"})  # fmt: skip
    record("evidence.add", project=project, release=release, actor="qa",
           data={"step": "no-such-step", "kind": "file", "summary": "notes.pdf"})  # fmt: skip

    html = get(client, personas["auditor"], action="evidence.add").content.decode()
    sentences = [" ".join(s.split()) for s in re.findall(
        r'<span class="audit-sentence">(.*?)</span>\s*<span class="audit-tags">', html, re.S
    )]  # fmt: skip
    words = "Confirm <code>supabase/migrations</code> order, checked by @lead"
    assert len(sentences) == before + 2
    by_job = [s for s in sentences if s.startswith(f"<strong>job #{job.pk}</strong>")]
    assert len(by_job) == ours
    assert any(f"added job evidence to “{words}” on <a" in s for s in by_job)
    assert all('<span class="audit-detail">3 files in order</span>' in s for s in by_job)
    assert f"<strong>qa</strong> added link evidence to “{words}” on <a" in sentences[1]
    assert "added file evidence for no-such-step on <a" in sentences[0]
    assert not any(" evidence for " in s for s in sentences[1:])  # never a step's key
    assert "`" not in html.split('class="audit-lines"', 1)[1].split("</ol>", 1)[0]


def test_it_says_an_items_change_with_the_items_whole_text(client, personas, project):
    """What the auditor read: 'ticked “Confirm `supabase/migrations` order, a step whose
    text runs past eighty characters, checked by @<…”': the text each event copied, cut
    at 80 characters through its Markdown. Now the step's whole text, rendered as on the
    release page; an item no longer found keeps the text its event copied."""
    from checklists.services.releases import release_create
    from release_portal.audit.models import AuditEvent
    from tests.factories import published_runbook

    published_runbook(project)
    lead = personas["platform_lead"]
    release = release_create(project=project, title="Members", owner=lead, commit_sha="a" * 40,
                             created_by=lead)  # fmt: skip
    item, gone = release.items.order_by("pk")[:2]
    item.step.text = (
        "Confirm `supabase/migrations` order, a step whose text runs past eighty characters, "
        "checked by @<name>"
    )
    item.step.save(update_fields=["text"])
    item.refresh_from_db()
    record("item.tick", project=project, release=release, obj=item)
    record("item.untick", project=project, release=release, obj=item, data={"reason": "oops"})
    record("item.not_applicable", project=project, release=release, obj=gone,
           data={"reason": "none here"})  # fmt: skip
    copied = AuditEvent.objects.get(action="item.not_applicable").object_repr
    gone.delete()

    html = get(client, personas["auditor"], action="item.*").content.decode()
    sentences = [" ".join(s.split()) for s in re.findall(
        r'<span class="audit-sentence">(.*?)</span>\s*<span class="audit-tags">', html, re.S
    )]  # fmt: skip
    words = (
        "Confirm <code>supabase/migrations</code> order, a step whose text runs past eighty "
        "characters, checked by @lead"
    )
    assert len(sentences) == 3
    assert f"ticked “{words}” on <a" in sentences[2]
    assert f"reopened “{words}” on <a" in sentences[1]
    assert f"marked not applicable “{copied.split(': ', 1)[1]}” on <a" in sentences[0]
