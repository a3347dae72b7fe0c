"""The splitter cuts where the Supabase CLI cuts (pkg/parser/state_test.go), with lines."""

from __future__ import annotations

import random

import pytest

from migrations_ops.pg.sqlsplit import (
    cannot_run_in_transaction,
    has_no_transaction_directive,
    is_transaction_control,
    split_raw,
    split_statements,
)

# Each case is the list of raw pieces the CLI's Split returns for their concatenation,
# taken from supabase/cli pkg/parser/state_test.go.
CLI_CASES = {
    "line comment after separator": ["END;", "-- comment"],
    "line comment before separator": ["SELECT --; 1"],
    "line comment not started": ["- ;", "END"],
    "line comment between lines": ["-- /* \n;", " */ END"],
    "block comment contains separator": ["SELECT /* ; */ 1;"],
    "nested block comment": ["SELECT /*; /*;*/ ;*/ 1"],
    "block comment not started": ["/ * ;", " */ END"],
    "separator without spaces": [";", "END;", ";"],
    "separator between spaces": ["BEGIN   ;", "  END"],
    "backslash escaped separator": ["\\;;", "\\;"],
    "named dollar tag": ["$tag$ any ; string$tag$"],
    "anonymous dollar tag": ['$$"Dane\'s horse"$$'],
    "dollar quote not started": ['SELECT "$";', " $$"],
    "single quote escapes separator": ["SELECT ';' 1"],
    "doubled single quote": ["SELECT ';'';' 1"],
    "backslash inside a string is literal": ["SELECT '\\';", " 1'"],
    "double quote escapes separator": ['CREATE POLICY "cats;dogs" on cats_dogs;', " END"],
    "double quote keeps single quote": ["CREATE POLICY \"cat's and dog's\" on cats_dogs;", " END"],
    "doubled double quote": ['CREATE POLICY "pet""name" on pets;', " END"],
    "parentheses keep separators": [
        'CREATE RULE notify_me AS ON UPDATE TO mytable DO (NOTIFY mytable; SELECT "1");',
        "SELECT 1",
    ],
    "parentheses ignore literals": [
        "CREATE RULE notify_me AS ON UPDATE TO mytable DO (-- )\nSELECT ')';\n-- )\n)\n"
    ],
    "begin atomic body": [
        "CREATE FUNCTION add(a integer, b integer) RETURNS integer\nLANGUAGE SQL\n"
        "IMMUTABLE STRICT PARALLEL SAFE\nRETURNS NULL ON NULL INPUT\nBEGIN ATOMIC\n"
        "\tSELECT 'add';\n\tSELECT a + b;\nEND;"
    ],
    "begin atomic is case insensitive": ["begin atomic; select 'end'; end"],
    "begin atomic ignores literals": [
        "CREATE FUNCTION test() BEGIN\nATOMIC-- END;\n-- END;\nEND\n;"
    ],
}


@pytest.mark.parametrize("pieces", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_it_cuts_where_the_cli_cuts(pieces):
    assert [text for _, text in split_raw("".join(pieces))] == pieces


def test_it_trims_like_split_and_trim_and_drops_empty_pieces():
    statements = split_statements("  create table a (id int) ;;\n\n;select 1;\n-- trailing\n")
    assert [s.text for s in statements] == ["create table a (id int)", "select 1", "-- trailing"]


def test_it_gives_each_statement_its_first_line():
    text = (
        "-- header comment\n"  # 1
        "create table a (\n"  # 2 (the comment belongs to the first statement)
        "  id int\n"
        ");\n"
        "\n"
        "create function f() returns int language plpgsql as $$\n"  # 6
        "begin\n"
        "  return 1; -- a ; inside\n"
        "end $$;\n"
        "   select 'a;\n"  # 10
        "b';\n"
        "select 2;"  # 12
    )
    assert [(s.number, s.line) for s in split_statements(text)] == [
        (1, 1),
        (2, 6),
        (3, 10),
        (4, 12),
    ]


def test_it_maps_an_error_position_to_a_file_line():
    statement = split_statements("\n\nselect 1,\n  2,\n  nosuch\nfrom t;")[0]
    assert statement.line == 3
    position = statement.text.index("nosuch") + 1
    assert statement.line_at(position) == 5


def test_it_ends_a_group_at_the_first_closing_parenthesis_like_the_cli():
    # A quirk worth knowing: nested parentheses close together.
    assert [t for _, t in split_raw("x (a; (b); c);")] == ["x (a; (b);", " c);"]


def test_it_needs_begin_before_atomic():
    # A column named is_atomic does not open a BEGIN ATOMIC body.
    text = "create table t (is_atomic bool);\ncreate table u (id int);"
    assert len(split_statements(text)) == 2


def test_it_ends_begin_atomic_at_an_end_inside_a_word():
    # The CLI's quirk: "append" ends the body, so the statement is cut early.
    text = "create function f() returns int begin atomic select append(1); select 2; end;"
    assert [s.text for s in split_statements(text)] == [
        "create function f() returns int begin atomic select append(1)",
        "select 2",
        "end",
    ]


def test_it_ignores_a_byte_order_mark():
    assert [s.text for s in split_statements("\ufeffselect 1;")] == ["select 1"]


def test_it_keeps_carriage_returns_inside_statements():
    statements = split_statements("select 1;\r\nselect\r\n 2;\r\n")
    assert [s.text for s in statements] == ["select 1", "select\r\n 2"]
    assert [s.line for s in statements] == [1, 2]


def test_it_gives_back_the_text_it_was_given():
    # Property: the raw pieces always concatenate to the input, whatever the input.
    rng = random.Random(20240101)
    alphabet = ["a", "c", "C", "(", ")", ";", "'", '"', "$", "$$", "$t$", "-", "--", "/", "*",
                "/*", "*/", "\\", "\n", " ", "begin atomic", "end", "é"]  # fmt: skip
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        pieces = split_raw(text)
        assert "".join(t for _, t in pieces) == text
        assert all(text[offset : offset + len(t)] == t for offset, t in pieces)
        for statement in split_statements(text):
            assert text[statement.offset :].startswith(statement.text)
            assert statement.line == text.count("\n", 0, statement.offset) + 1


def test_it_splits_a_5_mb_file():
    row = "({n}, 'name; {n}', 'it''s', $$x;y$$)"
    lines = [
        "insert into t values " + ",".join(row.format(n=i * 10 + j) for j in range(10)) + ";\n"  # noqa: S608
        for i in range(12000)
    ]
    text = "create table t (id int, a text, b text, c text);\n" + "".join(lines)
    assert len(text) > 5_000_000
    statements = split_statements(text)
    assert len(statements) == 12001
    assert statements[-1].line == 12001


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX CONCURRENTLY i ON t (a)",
        "-- build it online\ncreate unique index concurrently i on t (a)",
        "DROP INDEX CONCURRENTLY i",
        "vacuum analyze t",
        "REINDEX (VERBOSE) TABLE t CONCURRENTLY",
        "create database x",
        "ALTER SYSTEM SET work_mem = '8MB'",
    ],
)
def test_it_knows_what_cannot_run_in_a_transaction(statement):
    assert cannot_run_in_transaction(statement)


@pytest.mark.parametrize(
    "statement", ["CREATE INDEX i ON t (a)", "select 'vacuum'", "create table concurrently (a int)"]
)
def test_it_lets_ordinary_statements_run_in_a_transaction(statement):
    assert not cannot_run_in_transaction(statement)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("BEGIN", True),
        ("begin transaction isolation level serializable", True),
        ("COMMIT", True),
        ("end", True),
        ("ROLLBACK", True),
        ("rollback to savepoint a", False),
        ("ROLLBACK WORK TO a", False),
        ("savepoint a", False),
        ("create table begin_log (a int)", False),
    ],
)
def test_it_knows_transaction_control(statement, expected):
    assert is_transaction_control(statement) is expected


def test_it_reads_the_no_transaction_directive_from_the_first_line_only():
    assert has_no_transaction_directive("-- pg-delta: transaction=false\r\nvacuum;")
    assert not has_no_transaction_directive("select 1;\n-- pg-delta: transaction=false\n")
