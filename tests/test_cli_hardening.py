"""CLI footguns (issue 10, scope 6): sizes need a unit, negative/NaN/zero values are refused by name, ``-5ms``
reaches its option, user errors are one line with exit 2, bugs say so with exit 3, typos stay argparse's exit 2."""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atomnet.cli import build_parser
from atomnet.units import parse_bytes, parse_ms


def _env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "xdg")}  # never the user's database (absent: embedded)
    env.pop("ATOMNET_DEBUG", None)
    env.pop("ATOMNET_DB", None)
    return env


def _run(*argv: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atomnet", *argv], env=_env(tmp), capture_output=True, text=True,
                          timeout=300)


# --- the parse functions ------------------------------------------------------------------------------------------

def test_units_doctests_run() -> None:
    import doctest

    import atomnet.units

    res = doctest.testmod(atomnet.units)
    assert res.failed == 0 and res.attempted >= 4


def test_sizes_need_a_unit() -> None:
    with pytest.raises(ValueError) as e:
        parse_bytes("256", field="--sram")
    assert str(e.value) == "--sram: '256' has no unit; write 256KB (262,144 B) or 256B"
    with pytest.raises(ValueError) as e:
        parse_bytes("1000000", field="--flash")  # a large bare number reads as bytes first
    assert str(e.value) == "--flash: '1000000' has no unit; write 1000000B (976.6 KB) or 1000000KB (1,024,000,000 B)"
    with pytest.raises(ValueError) as e:
        parse_bytes("0.5", field="--sram")
    assert str(e.value) == "--sram: '0.5' has no unit; write 0.5KB (512 B) or 0.5MB (524,288 B)"
    assert parse_bytes("262144B") == parse_bytes("256KB") == parse_bytes("256 KiB") == parse_bytes("0.25MB") == 262144
    assert parse_bytes("512kB") == 512_000 and parse_bytes("2GB") == 2 * 1024**3
    assert parse_bytes(4096) == 4096 and parse_bytes(0) == 0 and parse_bytes(8.0) == 8  # library ints are bytes


@pytest.mark.parametrize("text", ["-5KB", "-1B", "nan", "NaN KB", "inf", "-inf", "1e999KB", "0", "0KB", "0.1B"])
def test_bad_sizes_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_bytes(text, field="--sram")
    assert str(e.value).startswith(f"--sram: expected a positive size, got {text!r}")


def test_size_errors_say_what_is_expected() -> None:
    with pytest.raises(ValueError, match=r"^--sram: unknown size unit 'XB' in '12XB'; use B, KB, MB or GB$"):
        parse_bytes("12XB", field="--sram")
    with pytest.raises(ValueError, match=r"^--sram: cannot parse size 'lots'; expected e.g. '256KB'"):
        parse_bytes("lots", field="--sram")
    assert parse_bytes("0KB", field="x", allow_zero=True) == 0
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^size: expected a non-negative size"):
            parse_bytes(bad)


def test_times_default_to_ms_and_refuse_bad_values() -> None:
    assert parse_ms("275") == parse_ms("275ms") == parse_ms("0.275s") == parse_ms(275) == 275.0
    assert parse_ms("250us") == pytest.approx(0.25) and parse_ms("250µs") == pytest.approx(0.25)
    assert parse_ms("1e3us") == pytest.approx(1.0) and parse_ms("2min") == 120_000.0
    for text in ("-5ms", "-5", "0", "0ms", "nan", "inf", "1e999"):
        with pytest.raises(ValueError) as e:
            parse_ms(text, field="--latency")
        assert str(e.value) == f"--latency: expected a positive time, got {text!r}"
    with pytest.raises(ValueError, match=r"^--latency: unknown time unit 'h' in '2h'; use ms, s, us or ns"):
        parse_ms("2h", field="--latency")
    assert parse_ms("0", allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="non-negative time"):
        parse_ms(math.nan)


# --- argparse: a negative value with a unit is an option's value -------------------------------------------------

def _parsers(p: argparse.ArgumentParser, path: str = "atomnet") -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, p)]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out += _parsers(child, f"{path} {name}")
    return out


def test_every_parser_takes_negative_numbers_with_units_as_values() -> None:
    parsers = _parsers(build_parser())
    names = {n for n, _ in parsers}
    assert {"atomnet", "atomnet search", "atomnet cost", "atomnet db", "atomnet db query"} <= names
    for name, p in parsers:
        m = p._negative_number_matcher
        for text in ("-5", "-5ms", "-0.5s", "-.5", "-1e3us", "-5KB"):
            assert m.match(text), (name, text)
        assert not m.match("--sram") and not m.match("-h")


def test_negative_values_reach_the_option_in_nested_parsers() -> None:
    p = build_parser()
    assert p.parse_args(["search", "--latency", "-5ms"]).latency == "-5ms"
    assert p.parse_args(["search", "--latency=-5ms"]).latency == "-5ms"
    args = p.parse_args(["db", "query", "pointwise", "--c-in", "-8", "--c-out", "16"])  # nested: db → query
    assert args.c_in == -8


@pytest.mark.parametrize("argv", [("--latency", "-5ms"), ("--latency=-5ms",)])
def test_negative_latency_is_one_line_not_a_usage_dump(argv: tuple[str, ...], tmp_path: Path) -> None:
    r = _run("search", *argv, "--no-progress", tmp=tmp_path)
    assert r.returncode == 2
    assert r.stderr == "atomnet: error: --latency: expected a positive time, got '-5ms'\n"
    assert r.stdout == ""


@pytest.mark.parametrize(("argv", "message"), [
    (("--sram", "256"), "--sram: '256' has no unit; write 256KB (262,144 B) or 256B"),
    (("--flash", "1000000"), "--flash: '1000000' has no unit; write 1000000B (976.6 KB) or 1000000KB"),
    (("--sram", "nan"), "--sram: expected a positive size, got 'nan'"),
    (("--sram", "-256KB"), "--sram: expected a positive size, got '-256KB'"),
    (("--sram", "0KB"), "--sram: expected a positive size, got '0KB'"),
    (("--latency", "inf"), "--latency: expected a positive time, got 'inf'"),
    (("--latency", "0"), "--latency: expected a positive time, got '0'"),
])
def test_search_limits_refused_in_a_subprocess(argv: tuple[str, ...], message: str, tmp_path: Path) -> None:
    r = _run("search", *argv, "--no-progress", tmp=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"atomnet: error: {message}") and r.stderr.count("\n") == 1, r.stderr


def test_help_documents_units_and_exit_status(tmp_path: Path) -> None:
    r = _run("--help", tmp=tmp_path)
    text = " ".join(r.stdout.split())
    assert r.returncode == 0 and "Sizes need a unit" in text and "a time without a unit is milliseconds" in text
    assert "1 the model does not fit (cost) or nothing fits (search), 2 an error in the input, 3 a bug" in text


# --- user errors and bugs ----------------------------------------------------------------------------------------

def test_typos_stay_argparse_usage_errors(tmp_path: Path) -> None:
    r = _run("serach", tmp=tmp_path)
    assert r.returncode == 2 and "invalid choice: 'serach'" in r.stderr and r.stderr.startswith("usage: atomnet")
    r = _run("cost", "atomnet-256kb", "--bord", "x", tmp=tmp_path)
    assert r.returncode == 2 and "unrecognized arguments: --bord x" in r.stderr


def test_readable_key_errors_are_user_errors(tmp_path: Path) -> None:
    r = _run("cost", "atomnet-256kb", "--board", "nope", tmp=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("atomnet: error: unknown board 'nope'; known boards: stm32h743, ")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_not_a_database_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.sqlite"
    bad.write_text("not sqlite\n" * 100)
    r = _run("--db", str(bad), "cost", "atomnet-256kb", tmp=tmp_path)
    assert r.returncode == 2
    assert r.stderr == f"atomnet: error: {bad}: not an AtomDB SQLite file (file is not a database)\n"


def test_board_file_size_without_unit(tmp_path: Path) -> None:
    p = tmp_path / "b.toml"
    p.write_text('name = "x"\ncore = "cortex-m4"\nclock_mhz = 80\nsram = "256"\nflash = "1MB"\n')
    r = _run("boards", "--file", str(p), tmp=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith(f"atomnet: error: {p}: ")
    assert "sram: '256' has no unit; write 256KB (262,144 B) or 256B" in r.stderr

    assert f"{p}: {p}" not in r.stderr  # the file is named once


@pytest.mark.parametrize(("argv", "message"), [
    (("--repeats", "0"), "--repeats: expected a finite number >= 1, got 0"),
    (("--timeout", "nan"), "--timeout: expected a finite number > 0, got nan"),
    (("--min-repeat-ms", "-5"), "--min-repeat-ms: expected a finite number >= 0, got -5.0"),
    (("--retries", "-1"), "--retries: expected a finite number >= 0, got -1"),
])
def test_db_measure_numbers_refused_by_name(argv: tuple[str, ...], message: str, tmp_path: Path) -> None:
    ops = tmp_path / "ops.jsonl"
    ops.write_text("")
    r = _run("db", "measure", str(ops), "--board", "host", *argv, tmp=tmp_path)
    assert (r.returncode, r.stderr.strip()) == (2, f"atomnet: error: {message}")
    assert not (tmp_path / "xdg").exists()  # refused before any database is created


@pytest.mark.parametrize(("argv", "message"), [
    (("--label-smoothing", "2"), "label_smoothing: expected a number in [0, 1), got 2.0"),
    (("--lr", "inf"), "lr: expected a finite non-negative number, got inf"),
])
def test_train_numbers_refused_by_name(argv: tuple[str, ...], message: str, tmp_path: Path) -> None:
    r = _run("train", "demo", "--data", "fashion-mnist", "--out", str(tmp_path / "run"), *argv, tmp=tmp_path)
    assert (r.returncode, r.stderr.strip()) == (2, f"atomnet: error: {message}")


_BUG = """
import sys
import atomnet.spec
def broken(*a, **k):
    raise {exc}
atomnet.spec.load_spec = broken
from atomnet.cli import main
sys.exit(main(["cost", "atomnet-256kb"]))
"""


@pytest.mark.parametrize(("exc", "shown"), [
    ("KeyError('res')", "KeyError: 'res'"),
    ("KeyError(33554432)", "KeyError: 33554432"),
    ("IndexError('list index out of range')", "IndexError: list index out of range"),
    ("ValueError('33554432')", "ValueError: 33554432"),
    # a bare ValueError / KeyError is a bug even with a readable message: user errors are InputError (issue 11)
    ("KeyError(\"unknown zoo model 'x'; known: a, b\")", "KeyError: \"unknown zoo model 'x'; known: a, b\""),
    ("ValueError('stages: expected a list')", "ValueError: stages: expected a list"),
    ("ZeroDivisionError('division by zero')", "ZeroDivisionError: division by zero"),
])
def test_bugs_say_so_with_exit_3(exc: str, shown: str, tmp_path: Path) -> None:
    """An exception that is no user error (a bare key or number, an IndexError …) is reported as a bug."""
    env = _env(tmp_path)
    cmd = [sys.executable, "-c", _BUG.format(exc=exc)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 3
    assert r.stderr == (f"atomnet: internal error ({shown}); this is a bug in atomnet, please report it; "
                        "set ATOMNET_DEBUG=1 for the traceback\n")
    r = subprocess.run(cmd, env={**env, "ATOMNET_DEBUG": "1"}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 3 and "Traceback (most recent call last)" in r.stderr and "in broken" in r.stderr
    assert r.stderr.rstrip().endswith(f"atomnet: internal error ({shown}); this is a bug in atomnet, please report it")


@pytest.mark.parametrize(("exc", "shown"), [
    ("__import__('atomnet.errors', fromlist=['x']).UnknownNameError(\"unknown zoo model 'x'; known: a, b\")",
     "unknown zoo model 'x'; known: a, b"),
    ("__import__('atomnet.spec', fromlist=['x']).SpecError('stages[0]', 'expected a list', 'x.json')",
     "x.json: stages[0]: expected a list"),
    ("FileNotFoundError(2, 'No such file or directory', 'spec.json')", "spec.json: No such file or directory"),
    ("PermissionError(13, 'Permission denied', 'out/best.json')", "out/best.json: Permission denied"),
    ("ModuleNotFoundError('No module named torch', name='torch')",
     "this command needs the ML stack (no module 'torch'): .venv/bin/pip install -r requirements-ml.txt"),
    ("__import__('sqlite3').OperationalError('database is locked')", "database: database is locked"),
    ("__import__('atomnet.search', fromlist=['x']).JournalMismatch('j.jsonl: written with another database')",
     "j.jsonl: written with another database"),
    ("__import__('atomnet.db', fromlist=['x']).SchemaError('x.sqlite: AtomDB schema version 9')",
     "x.sqlite: AtomDB schema version 9"),
])
def test_library_user_errors_stay_exit_2(exc: str, shown: str, tmp_path: Path) -> None:
    env = _env(tmp_path)
    r = subprocess.run([sys.executable, "-c", _BUG.format(exc=exc)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert (r.returncode, r.stderr) == (2, f"atomnet: error: {shown}\n")


def test_sql_bug_is_not_a_user_error(tmp_path: Path) -> None:
    env = _env(tmp_path)
    code = _BUG.format(exc="__import__('sqlite3').OperationalError('no such column: medain_ms')")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 3 and "internal error (OperationalError: no such column: medain_ms)" in r.stderr
