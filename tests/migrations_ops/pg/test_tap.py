"""The TAP reader judges pgTAP output the way pg_prove does."""

from __future__ import annotations

from migrations_ops.pg.tap import parse_tap


def test_it_passes_a_complete_plan():
    result = parse_tap("1..2\nok 1 - a\nok 2 - b\n")
    assert result.passed and [a.description for a in result.assertions] == ["a", "b"]


def test_it_fails_when_fewer_tests_ran_than_planned():
    result = parse_tap("1..3\nok 1 - a\n")
    assert not result.passed and result.plan_problem == "planned 3 tests but ran 1"


def test_it_lets_a_failing_todo_pass_but_not_a_failing_test():
    assert parse_tap("1..1\nnot ok 1 - later # TODO not built yet\n").passed
    failing = parse_tap('1..1\nnot ok 1 - now\n# Failed test 1: "now"\n')
    assert not failing.passed and failing.failed[0].diagnostics == ['Failed test 1: "now"']


def test_it_stops_at_bail_out():
    result = parse_tap("1..2\nok 1\nBail out! database gone\n")
    assert not result.passed and result.bail_out == "database gone"


def test_it_ignores_output_that_is_not_tap():
    result = parse_tap(" set_config \n okay\n 1\n")
    assert not result.is_tap
