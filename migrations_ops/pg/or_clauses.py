"""An OR as PostgreSQL 15's planner has it when it prunes partitions, for ``query_filters``.

Before pruning, ``preprocess_expression`` folds constants (``eval_const_expressions``: an
arm ``FALSE`` is dropped, a conjunct ``TRUE`` too, an arm ``TRUE`` makes the OR true) and
``canonicalize_qual`` flattens nested ORs and pulls the conjuncts common to every arm out
of the OR (``process_duplicate_ors``, prepqual.c: ``(A AND B) OR (A AND C)`` is
``A AND (B OR C)``, and ``(A AND B) OR A`` is ``A``). What is pulled out is a conjunct of
the query like any other: at the top level, the planner's equivalence classes see it (two
constants one column equals: nothing is kept), and a partition's arms lose it.

Conjuncts are compared as written (pglast's JSON without positions), where PostgreSQL
compares them once analysed (``equal()``): ``k = 1`` and ``k = '1'`` are one conjunct to
it, two here, and are then left in their arms.
"""

from __future__ import annotations

import json
from typing import Any

from migrations_ops.pg.partition_pruning import conjuncts


def factored(node: dict[str, Any]) -> tuple[list[Any], list[list[Any]] | None] | None:
    """An OR (a ``BoolExpr``, pglast's JSON): the conjuncts common to all its arms, moved
    out of it, and the arms left, each its conjuncts (None: no OR is left). None when the
    constants leave fewer than two arms (what is left is not read here)."""
    arms: list[list[Any]] = []
    for arm in _flat_arms(node):
        items = [item for item in conjuncts(arm) if _truth(item) is not True]
        if any(_truth(item) is False for item in items):
            continue
        if not items:
            return [], None  # an arm TRUE: the OR is TRUE, and says nothing
        arms.append(items)
    if len(arms) < 2:
        return None
    keys = [[_canonical(item) for item in arm] for arm in arms]
    reference = min(range(len(arms)), key=lambda i: len(arms[i]))
    winners: list[Any] = []
    won: set[str] = set()
    for item, key in zip(arms[reference], keys[reference], strict=True):
        if key not in won and all(key in others for others in keys):
            winners.append(item)
            won.add(key)
    if not winners:
        return [], arms
    left: list[list[Any]] = []
    for arm, arm_keys in zip(arms, keys, strict=True):
        rest = [item for item, key in zip(arm, arm_keys, strict=True) if key not in won]
        if not rest:
            return winners, None  # (A AND B) OR A: A
        left.append(rest)
    return winners, left


def is_or(node: Any) -> bool:
    inner = node.get("BoolExpr") if isinstance(node, dict) else None
    return isinstance(inner, dict) and inner.get("boolop") == "OR_EXPR"


def _flat_arms(node: dict[str, Any]) -> list[Any]:
    found = []
    for arg in node["BoolExpr"].get("args", ()):
        found += _flat_arms(arg) if is_or(arg) else [arg]
    return found


def _truth(node: Any) -> bool | None:
    const = node.get("A_Const") if isinstance(node, dict) else None
    if not isinstance(const, dict) or "boolval" not in const:
        return None
    return bool(const["boolval"].get("boolval", False))


def _canonical(node: Any) -> str:
    return json.dumps(_unplaced(node), sort_keys=True)


def _unplaced(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _unplaced(v) for k, v in node.items() if k != "location"}
    if isinstance(node, list):
        return [_unplaced(v) for v in node]
    return node
