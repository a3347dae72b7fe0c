"""The risk result's table says what a person can act on, rendered from a stored result."""

from __future__ import annotations

from django.template.loader import render_to_string

from migrations_ops.jobs.results.analysis import present_risk
from migrations_ops.pg import release_risk, risk_report
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.target_facts import RelationFacts, TargetFacts

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


def test_a_lock_on_a_table_the_statement_does_not_name_says_which_why_and_what_it_blocks():
    facts = TargetFacts(source="staging")
    facts.relations = {n: RelationFacts(n, "table", 10) for n in ("public.child", "public.parent")}
    facts.constraint_targets = {("public.child", "child_parent_fk"): "public.parent"}
    facts.not_valid_constraints = {("public.child", "child_parent_fk")}  # else nothing to check
    text = (
        "alter table child validate constraint child_parent_fk;\n"
        "alter table child validate constraint child_other_fk;\n"
    )
    files = release_risk.analyse_files([MigrationFile.from_text("20250301000000_x.sql", text)])
    result = risk_report.build(release_risk.Resolver(facts).resolve(files), facts=facts, counts={})
    known, unknown = result["statements"]
    assert (known["lock"], known["lock_table"]) == ("SHARE UPDATE EXCLUSIVE", "public.child")
    assert known["also_locks"] == [
        "ROW SHARE on public.parent (the table child_parent_fk references): blocks only "
        "ACCESS EXCLUSIVE and EXCLUSIVE locks; reads and writes go on"
    ]
    assert unknown["also_locks"] == []
    html = render_to_string("migrations_ops/analysis/risk_result.html", present_risk(result))
    assert "Also ROW SHARE on public.parent (the table child_parent_fk references): blocks" in html
    assert (
        "If child_other_fk is a foreign key, ALTER TABLE also takes ROW SHARE on the table it "
        "references: neither staging nor the release&#x27;s earlier statements have a "
        "constraint child_other_fk on public.child"
    ) in html
    assert "| SHARE UPDATE EXCLUSIVE; also ROW SHARE on public.parent |" in risk_report.markdown(
        result
    )
