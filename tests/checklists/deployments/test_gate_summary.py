from django.template.loader import render_to_string

from checklists.deployments.gate import gate_status, open_followups
from checklists.deployments.services import gate_break_glass
from tests.factories import PASSWORD, current_digest, one_lead_breaks_glass


def test_it_renders_the_gate_summary_for_the_release_page(release_with_files, platform_lead):
    def render():
        return render_to_string(
            "checklists/deployments/_gate_summary.html",
            {"gate": gate_status(release_with_files), "release": release_with_files,
             "followups": open_followups(release_with_files)},
        )  # fmt: skip

    closed = render()
    assert 'badge-bad">closed' in closed and "12 checklist item(s) are not done" in closed
    one_lead_breaks_glass(release_with_files)
    gate_break_glass(
        release=release_with_files, seen_digest=current_digest(release_with_files),
        user=platform_lead, reason="Login outage hotfix now",
        password=PASSWORD,
    )  # fmt: skip
    opened = render()
    assert "Open by break-glass (lead)" in opened
    assert "1 break-glass follow-up open" in opened


def test_it_names_the_checks_without_proof_in_words_not_step_keys(release_with_files):
    html = render_to_string(
        "checklists/deployments/_gate_summary.html",
        {"gate": gate_status(release_with_files), "release": release_with_files,
         "followups": []},
    )  # fmt: skip
    order = release_with_files.items.get(step__evidence_kinds__contains=["job:order"])
    assert "check(s) failed or have no passing result for these migrations:" in html
    # The item's own text, its Markdown rendered, linked to the item on the page...
    assert "<code>supabase/migrations</code>" in html
    assert f'href="#item-{order.pk}"' in html
    # ...never the machine's words meant for CI (the API's reasons keep those).
    assert order.step.key not in html
    assert "job:order" not in html and "`" not in html
    assert order.step.key in " ".join(gate_status(release_with_files).reasons)


def test_the_gate_page_renders_checklist_text_as_markdown(
    client, release_with_files, platform_lead
):
    client.force_login(platform_lead)
    html = client.get(f"/releases/{release_with_files.pk}/gate").content.decode()
    assert "<code>supabase/migrations</code>" in html
    assert "`supabase/migrations`" not in html
