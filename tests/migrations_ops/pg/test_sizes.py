"""Sizes in words, the same on every page, report and error message."""

from __future__ import annotations

import pytest

from migrations_ops.pg import risk_rules
from migrations_ops.pg.sizes import size_text


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1,023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (8192, "8 KB"),
        (64 * 1024, "64 KB"),
        (300 * 1024 * 1024, "300 MB"),
        (int(2.25 * 1024**3), "2.2 GB"),
        (5 * 1024**5, "5,120 TB"),
    ],
)
def test_a_size_reads_in_the_unit_it_is_closest_to(size, words):
    assert size_text(size) == words


def test_exact_adds_the_byte_count():
    assert size_text(1536, exact=True) == "1.5 KB (1,536 bytes)"
    assert size_text(10, exact=True) == "10 bytes"


def test_a_small_table_in_the_risk_reasons_is_not_zero_megabytes():
    statement = {
        "lock": "SHARE",
        "tables": ["public.tags"],
        "hazards": [{"code": "create_index_not_concurrently", "table": "public.tags"}],
        "table_sizes": [{"table": "public.tags", "rows": 3, "bytes": 16384}],
    }

    _level, reasons = risk_rules.statement_level(statement, risk_rules.Thresholds())

    assert any("(~3 rows, 16 KB)" in reason for reason in reasons), reasons
    assert not any("0.0 MB" in reason for reason in reasons)
