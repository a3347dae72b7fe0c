"""The risk result's table says what a person can act on, rendered from a stored result."""

from __future__ import annotations

from django.template.loader import render_to_string

from migrations_ops.jobs.results.analysis import present_risk

STATEMENT = {
    "file": "20250301000000_x.sql", "line": 2, "risk": "medium", "does": "adds column a",
    "hazards": [], "lock": "ACCESS EXCLUSIVE", "lock_table": "app.members", "blocks": [],
    "table_sizes": [{"table": "app.members", "rows": None, "bytes": 8192}],
    "lock_held_seconds": 0.003,
}  # fmt: skip


def test_a_table_the_target_never_analysed_says_why_its_rows_are_unknown_and_what_to_do():
    """It said "not analysed", as if the portal had skipped the table."""
    view = present_risk({"level": "medium", "statements": [STATEMENT]})
    html = render_to_string("migrations_ops/analysis/risk_result.html", view)
    assert "not analysed" not in html
    assert 'title="The target holds no estimate for app.members: it was never ANALYZEd' in html
    assert ">unknown</span>" in html
    assert "run <code>ANALYZE</code> on it and the pre-flight again" in html
