"""What the risk report says of the INHERITS children that DROP and VALIDATE CONSTRAINT
lock: their copy of an inherited CHECK, or (for a constraint nobody knows) that they hold
one if it is a check. Which tables are locked is compared with PostgreSQL's own locks in
test_lock_elsewhere.py; here, the words."""

from __future__ import annotations

from migrations_ops.pg import release_risk
from migrations_ops.pg.apply import MigrationFile
from migrations_ops.pg.locks import LockMode
from migrations_ops.pg.target_facts import RelationFacts, TargetFacts

AE = LockMode.ACCESS_EXCLUSIVE


def inherited() -> TargetFacts:
    """base <- base_kid <- base_grandkid (plain INHERITS); base has a key and a CHECK its
    children inherit."""
    target = TargetFacts(source="staging")
    for name in ("base", "base_kid", "base_grandkid"):
        target.relations[f"public.{name}"] = RelationFacts(f"public.{name}", "table", 10)
    target.inherits_from = {
        "public.base_kid": {"public.base"},
        "public.base_grandkid": {"public.base_kid"},
    }
    target.other_constraints = {("public.base", "base_pkey"), ("public.base", "base_k_check")}
    target.inherited_checks = {("public.base", "base_k_check")}
    return target


def settle(text: str) -> list[release_risk.Resolved]:
    files = release_risk.analyse_files([MigrationFile.from_text("20240101000000_x.sql", text)])
    return release_risk.Resolver(inherited()).resolve(files)


def test_dropping_an_inherited_check_says_each_child_loses_its_copy():
    (drop,) = settle("alter table base drop constraint base_k_check;\n")
    only, key, unknown = settle(
        "alter table only base drop constraint base_k_check;\n"
        "alter table base drop constraint base_pkey;\n"
        "alter table base drop constraint if exists made_elsewhere;\n"
    )
    assert drop.locks == dict.fromkeys(
        ("public.base", "public.base_kid", "public.base_grandkid"), AE
    )
    assert drop.lock_why == {
        "public.base_kid": "inherits from public.base: its copy of the check base_k_check",
        "public.base_grandkid": "inherits from public.base_kid: its copy of the check base_k_check",
    }
    # ONLY: the children's copies become their own; the grandchild's copy is its parent's.
    assert only.locks == {"public.base": AE, "public.base_kid": AE}
    assert key.locks == {"public.base": AE}  # a key stays on the table
    assert unknown.lock_why["public.base_kid"] == (
        "inherits from public.base: its copy, if it is a check it inherits, made_elsewhere"
    )


def test_a_check_the_release_adds_no_inherit_stays_on_the_table():
    _, validate, _, drop = settle(
        "alter table base add constraint small check (k < 10) no inherit not valid;\n"
        "alter table base validate constraint small;\n"
        "alter table base rename constraint base_k_check to positive;\n"
        "alter table base drop constraint positive;\n"
    )
    assert validate.locks == {"public.base": LockMode.SHARE_UPDATE_EXCLUSIVE}
    # A renamed inherited check is still one.
    assert drop.locks == dict.fromkeys(
        ("public.base", "public.base_kid", "public.base_grandkid"), AE
    )
