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
