"""Whole-model measurements in the AtomDB (issue 13, scope 1): the published rows of
``../shared/published/measurements.json`` with their bytes, a user's CSV/JSON, one transaction per import,
idempotent re-import, read-only refusal, and the ``atomnet db import-models`` / ``list-models`` commands."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from atomnet.cli import main
from atomnet.db import AtomDB, ModelFormatError, ModelMeasurement, model_counts, parse_model_file
from atomnet.runtimes import FlashModel, Runtime, list_runtimes, runtime_registered

FAMILY_ROWS = {"stm32ai_modelzoo": 75, "stm32ai_modelzoo_summary_tables": 173, "mlperf_tiny": 187,
               "tinyengine_measured_without_xcube": 99, "mcunet_model_zoo": 10, "mcunetv2_paper": 12, "tinyops": 11}
TINYENGINE_PEAK_BYTES = {  # FACTS §3: TinyEngine peak SRAM to the byte (its planner rules, tests/test_sram.py)
    "mcunet-in0": 50_064, "mcunet-in1": 98_024, "mcunet-in2": 219_776, "mcunet-in3": 266_344,
    "mcunet-in4": 426_120, "mcunet-vww0": 60_800, "mcunet-vww1": 93_992, "mcunet-vww2": 177_704,
    "proxyless-w0.3-r176": 265_600,
}
CURRENT_README = "d6503bd3d0f47dc032bb44e9a83c9e70f589898d"  # tinyengine README "Measured Results" since 2023-03


@pytest.fixture(scope="module")
def published(shared_dir: Path) -> Path:
    return shared_dir / "published" / "measurements.json"


@pytest.fixture(scope="module")
def models_db(tmp_path_factory: pytest.TempPathFactory, published: Path) -> Iterator[AtomDB]:
    db = AtomDB(tmp_path_factory.mktemp("models") / "atomdb.sqlite")
    db.import_model_measurements(published)
    yield db
    db.close()


def _one(rows: list[ModelMeasurement]) -> ModelMeasurement:
    assert len(rows) == 1, [r.id for r in rows]
    return rows[0]


def test_rows_per_family_and_skipped(tmp_path: Path, published: Path) -> None:
    with AtomDB(tmp_path / "a.sqlite") as db:
        res = db.import_model_measurements(published)
        assert res.added == 567 and res.rows_by_family == FAMILY_ROWS and not res.already_imported
        assert res.skipped == 24
        assert res.skipped_by_reason["mlperf_tiny"] == {
            "no latency: an energy-only result (no performance-mode throughput)": 8}  # the sww energy rows
        assert sum(res.skipped_by_reason["mcunetv2_paper"].values()) == 15  # analytic tables, claims, bounds
        assert res.skipped_by_reason["tinyops"] == {"code constants, not measurements": 1}
        again = db.import_model_measurements(published)  # idempotent: same SHA-256
        assert again.already_imported and again.added == 0 and again.imported_as == str(published)
        assert len(db.model_measurements()) == 567
        (rec,) = db.model_imports()
        assert (rec.format, rec.rows, rec.skipped, rec.rows_by_family) == (
            "published-measurements-json", 567, 24, FAMILY_ROWS)
        assert len(rec.sha256) == 64 and rec.path == str(published)
        data = json.loads(published.read_text())  # a re-formatted copy, families and rows in another order
        copy = _write(tmp_path / "copy.json", json.dumps({k: v[::-1] if isinstance(v, list) else v
                                                          for k, v in reversed(data.items())}))
        dup = db.import_model_measurements(copy)
        assert dup.already_imported and dup.imported_as == str(published) and len(db.model_measurements()) == 567
        data["tinyops"][0]["latency_ms"] = 1090  # one value changed: new rows
        changed = _write(tmp_path / "changed.json", json.dumps(data))
        assert db.import_model_measurements(changed).added == 567


def test_st_model_zoo_row_kib_to_bytes(models_db: AtomDB) -> None:
    """ST's MobileNet v1 0.25 224 (Flowers, X-CUBE-AI 7.3.0, H747 at 400 MHz): KiB = 1024 B, '~' values flagged."""
    m = _one([r for r in models_db.model_measurements("stm32h747", "xcube-ai", family="stm32ai_modelzoo")
              if r.model == "mobilenet_v1_0.25_224_int8.tflite" and r.runtime_version == "7.3.0"])
    assert m.board in (None, "stm32h747")  # an atomnet board once registered (issue 13, scope 5)
    assert (m.mcu, m.board_as_printed, m.runtime_as_printed) == (
        "stm32h747", "STM32H747I-DISCO", "STM32Cube.AI (X-CUBE-AI)")
    assert (m.model_kind, m.model_as_printed, m.dataset, m.num_classes) == ("tflite", "MobileNet v1 0.25", "flowers", 5)
    assert (m.input_h, m.input_w, m.input_c) == (224, 224, 3)
    assert m.activation_ram_bytes == 206_991  # 202.14 KiB
    assert m.cells["activation_ram_bytes"] == "activation_ram_kib: 202.14"
    assert (m.runtime_ram_bytes, m.weights_flash_bytes, m.code_flash_bytes) == (21 * 1024, 219_843, 75 * 1024)
    assert (m.total_ram_bytes, m.total_flash_bytes) == (228_649, 296_612)  # 223.29 KiB, 289.66 KiB
    assert m.approx == ("runtime_ram_bytes", "code_flash_bytes")  # printed "~21 KiB", "~75 KiB"
    assert (m.latency_ms, m.clock_mhz, m.io_in_activation_ram) == (183.88, 400.0, True)
    assert (m.source_repo, m.source_commit[:7]) == ("STMicroelectronics/stm32ai-modelzoo", "f501e52")
    assert m.raw_row()["inference_time_ms"] == 183.88


def test_st_inferred_version_and_misprinted_board(models_db: AtomDB) -> None:
    rows = [r for r in models_db.model_measurements("STM32H769I-DISCO") if r.family == "stm32ai_modelzoo"]
    assert len(rows) == 6 and {r.mcu for r in rows} == {"stm32f769"} and {r.clock_mhz for r in rows} == {216.0}
    assert all(r.runtime_version == "7.3.0" and any("inferred" in c for c in r.caveats) for r in rows)
    assert len(models_db.model_measurements("stm32f769")) == 12


def test_tinyengine_readme_rows(models_db: AtomDB) -> None:
    rows = [r for r in models_db.model_measurements("stm32h743", "tflm") if r.model == "mcunet-vww0"]
    assert {r.source_commit[:7] for r in rows} == {"d6503bd", "719fb9b"}  # the current and the older table
    for m in rows:
        assert (m.latency_ms, m.total_ram_bytes, m.total_flash_bytes) == (587.0, 163 * 1024, 627 * 1024)
        assert m.cells == {"latency_ms": "587ms", "total_ram_bytes": "163kB", "total_flash_bytes": "627kB"}
        assert (m.runtime_as_printed, m.runtime_version) == ("TF-Lite Micro @ 713b6ed", "@713b6ed")
        assert m.source_section == "## Measured Results" and m.activation_ram_bytes is None


def test_tinyengine_kb_is_1024_bytes(models_db: AtomDB) -> None:
    """The README's kB: each TinyEngine H743 peak is the byte-exact peak / 1024 rounded, none is / 1000."""
    rows = {r.model: r for r in models_db.model_measurements("stm32h743", "tinyengine")
            if r.source_commit == CURRENT_README}
    for net, exact in TINYENGINE_PEAK_BYTES.items():
        printed_kb = rows[net].total_ram_bytes // 1024  # type: ignore[operator]
        assert rows[net].total_ram_bytes == printed_kb * 1024
        assert round(exact / 1024) == printed_kb, net
        assert round(exact / 1000) != printed_kb, net


def test_cells_not_stored_and_oom(models_db: AtomDB) -> None:
    m = _one([r for r in models_db.model_measurements("stm32h743", family="tinyengine_measured_without_xcube")
              if r.model == "proxyless-w0.3-r64" and (r.runtime_as_printed or "").startswith("CMSIS-NN")])
    assert m.latency_ms is None and m.cells["latency_ms"] == "54kB"  # a size unit on a latency: not guessed
    assert m.not_stored == {"latency_ms": "printed '54kB': not a time in ms"}
    assert (m.total_ram_bytes, m.total_flash_bytes) == (136 * 1024, 1084 * 1024)
    oom = [r for r in models_db.model_measurements() if r.oom]
    assert len(oom) == 27 and all(not r.measured() for r in oom)
    assert all(r.family == "tinyengine_measured_without_xcube" for r in oom)


def test_runtimes_kept_as_printed_unless_known(models_db: AtomDB) -> None:
    assert len(models_db.model_measurements(runtime="CMSIS-NN")) == 30 + 11  # and TinyOps' "TFLM + CMSIS-NN"
    cmsis = models_db.model_measurements(runtime="CMSIS-NN", family="tinyengine_measured_without_xcube")
    assert len(cmsis) == 30 and {r.board for r in cmsis} == {"stm32h743", "stm32f746"}
    if "cmsis-nn" not in list_runtimes():  # not registered: stored without a runtime, found when it is
        assert all(r.runtime is None for r in cmsis)
        rt = Runtime("cmsis-nn", "test", lowering="tflm", planner="tflm",
                     flash=FlashModel("test", "int32", 12, 0, "test"))
        with runtime_registered(rt):
            assert [r.id for r in models_db.model_measurements(runtime="cmsis-nn")] == [r.id for r in cmsis]
    tinyops = models_db.model_measurements(family="tinyops")  # "TFLite Micro + CMSIS-NN kernels": two runtimes
    assert all(r.runtime is None for r in tinyops) and sum(r.plan == "tinyops" for r in tinyops) == 7
    assert {r.runtime_as_printed for r in models_db.model_measurements("stm32h747", family="stm32ai_modelzoo")
            if r.runtime is None} == {"STEdgeAI Core"}
    plumerai = models_db.model_measurements(runtime="plumerai")
    assert len(plumerai) == 36 and all(r.runtime is None for r in plumerai)


def test_mlperf_latency_from_throughput(models_db: AtomDB) -> None:
    m = models_db.model_measurements("stm32l4r5", "tflm", family="mlperf_tiny")[0]
    assert m.latency_ms == pytest.approx(1000 / 99.487, rel=1e-12) and m.cells["latency_ms"].endswith("99.487")
    assert (m.runtime_version, m.clock_mhz, m.dataset) == ("2.3.1", 120.0, "MLPerf Tiny ad")
    assert any("1000 / median throughput" in c for c in m.caveats)
    counts = model_counts(models_db.model_measurements(family="mlperf_tiny"))
    assert counts[("mlperf_tiny", "stm32h7a3", "xcube-ai")] == 24
    assert counts[("mlperf_tiny", "stm32l4r5", "xcube-ai")] == 28


def test_mcunetv2_and_zoo_rows(models_db: AtomDB) -> None:
    h7 = _one([r for r in models_db.model_measurements("stm32h743", family="mcunetv2_paper")
               if r.model == "MCUNetV2-H7" and r.dataset == "ImageNet"])
    assert (h7.total_ram_bytes, h7.total_flash_bytes, h7.plan) == (465 * 1024, 2032 * 1024, "patch-based")
    assert h7.source_section == "Table 2 (ImageNet)" and h7.runtime == "tinyengine"
    in3 = _one([r for r in models_db.model_measurements(family="mcunet_model_zoo") if r.model == "mcunet-in3"])
    assert (in3.board, in3.total_ram_bytes, in3.total_flash_bytes) == ("stm32f746", 293 * 1024, 897 * 1024)
    assert (in3.input_h, in3.num_classes) == (176, 1000)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD_CSV = ("board,runtime,model,latency,total_ram,weights_flash_bytes,clock_mhz,approx,resolution\n"
            "stm32h743,tinyengine,mcunet-in3,336 ms,260 KiB,747520,480,total_ram,176x176x3\n"
            ",,,,,,,,\n"
            "NUCLEO-C031C6,my-engine 1.2,net.tflite,0.3 s,1.5 MiB,,,,\n")


def test_user_csv(tmp_path: Path) -> None:
    pf = parse_model_file(_write(tmp_path / "mine.csv", GOOD_CSV))
    a, b = pf.rows
    assert (a.board, a.runtime, a.model_kind, a.latency_ms, a.total_ram_bytes, a.weights_flash_bytes) == (
        "stm32h743", "tinyengine", "name", 336.0, 266_240, 747_520)
    assert (a.clock_mhz, a.approx, a.input_c, a.source_section) == (480.0, ("total_ram_bytes",), 3, "line 2")
    assert a.cells == {"latency_ms": "336 ms", "total_ram_bytes": "260 KiB", "weights_flash_bytes": "747520"}
    assert (b.board, b.mcu, b.runtime, b.runtime_as_printed, b.model_kind) == (
        None, "stm32c031", None, "my-engine 1.2", "tflite")
    assert (b.latency_ms, b.total_ram_bytes, b.row_index) == (300.0, 1_572_864, 4)
    assert pf.skipped == {"user": {"blank row": 1}}


def test_user_json(tmp_path: Path) -> None:
    rows = [{"board": "stm32f746", "runtime": "x-cube-ai", "runtime_version": "7.1.0", "model": "atomnet-256kb",
             "model_kind": "zoo", "latency_ms": 1030, "activation_ram": "252 KiB", "oom": False}]
    pf = parse_model_file(_write(tmp_path / "mine.json", json.dumps({"measurements": rows})))
    m = pf.rows[0]
    assert (m.runtime, m.runtime_version, m.model_kind, m.latency_ms, m.activation_ram_bytes) == (
        "xcube-ai", "7.1.0", "zoo", 1030.0, 258_048)
    rows[0]["activation_ram"] = 252  # a number where a unit is needed
    with pytest.raises(ModelFormatError, match=r"mine2\.json: row 0: field 'activation_ram': 252 has no unit"):
        parse_model_file(_write(tmp_path / "mine2.json", json.dumps(rows)))


@pytest.mark.parametrize(("cell", "message"), [
    ("0,5 ms", r"bad\.csv:3: field 'latency': .*decimal comma"),
    ("-5 ms", r"bad\.csv:3: field 'latency': .*\(negative\)"),
    ("5 fortnights", r"bad\.csv:3: field 'latency': unknown unit 'fortnights'"),
    ("0 ms", r"bad\.csv:3: field 'latency': expected a positive latency"),
    ("587", r"bad\.csv:3: field 'latency': a time '587' has no unit"),
])
def test_bad_user_csv_names_line_and_field(tmp_path: Path, cell: str, message: str) -> None:
    text = f'board,runtime,model,latency\nstm32h743,tflm,a,5 ms\nstm32h743,tflm,b,"{cell}"\n'
    bad = _write(tmp_path / "bad.csv", text)
    with pytest.raises(ModelFormatError, match=message):
        parse_model_file(bad)


@pytest.mark.parametrize(("header", "row", "message"), [
    ("total_ram", "163 kB", r"bad\.csv:2: field 'total_ram': size unit 'kB' .* is ambiguous"),
    ("total_ram", "12 MHz", r"bad\.csv:2: field 'total_ram': unknown unit 'MHz'"),
    ("total_ram_bytes", "166912.5", r"bad\.csv:2: field 'total_ram_bytes': .*whole number"),
    ("flash", "1 MiB", r"bad\.csv:1: field 'flash': unknown column"),
    ("clock_mhz", "480", r"bad\.csv:2: no measurement"),
])
def test_bad_user_csv_units_and_columns(tmp_path: Path, header: str, row: str, message: str) -> None:
    bad = _write(tmp_path / "bad.csv", f"board,runtime,model,{header}\nstm32h743,tflm,a,{row}\n")
    with pytest.raises(ModelFormatError, match=message):
        parse_model_file(bad)


def _table_rows(path: Path) -> int:
    with sqlite3.connect(path) as c:
        return int(c.execute("SELECT count(*) FROM model_measurements").fetchone()[0])


def test_cli_import_all_or_nothing(tmp_path: Path, published: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "db.sqlite"
    good = _write(tmp_path / "mine.csv", GOOD_CSV)
    bad = _write(tmp_path / "bad.csv", "board,runtime,model,latency\nstm32h743,tflm,a,5 ms\nstm32h743,tflm,b,-1 ms\n")
    assert main(["--db", str(db), "db", "import-models", str(published), str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: field 'latency'" in err and "Traceback" not in err
    assert not db.exists()  # nothing parsed wrong is written, not even the database
    assert main(["--db", str(db), "db", "import-models", str(published), str(good)]) == 0
    out = capsys.readouterr().out
    assert "567 whole-model measurements imported" in out and "2 whole-model measurements imported (user 2)" in out
    assert _table_rows(db) == 569
    with AtomDB(db) as d:  # a bad file in the same call as a new good one: neither is kept (one transaction)
        d.conn.execute("CREATE TEMP TRIGGER boom BEFORE INSERT ON model_imports WHEN NEW.path LIKE '%other%' "
                       "BEGIN SELECT RAISE(ABORT, 'boom'); END")
        other = _write(tmp_path / "other.csv", GOOD_CSV.replace("336 ms", "337 ms"))
        third = _write(tmp_path / "third.csv", GOOD_CSV.replace("336 ms", "338 ms"))
        with pytest.raises(sqlite3.IntegrityError, match="boom"):
            d.import_model_files([parse_model_file(third), parse_model_file(other)])
        assert len(d.model_measurements()) == 569 and len(d.model_imports()) == 2
    assert main(["--db", str(db), "db", "import-models", str(good)]) == 0
    assert "already imported (same SHA-256); nothing added" in capsys.readouterr().out
    assert _table_rows(db) == 569


def test_cli_list_models(models_db: AtomDB, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--db", models_db.path, "db", "list-models", "--board", "stm32h743", "--runtime", "tinyengine"]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 24 and {r["family"] for r in rows} == {"tinyengine_measured_without_xcube", "mcunetv2_paper"}
    in3 = [r for r in rows if r["model"] == "mcunet-in3"]
    assert [(r["latency_ms"], r["total_ram_bytes"]) for r in in3] == [(336.0, 260 * 1024)] * 2
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "mcunet-in3" in out and "260.00" in out and out.rstrip().endswith("24 rows")
    assert main(["--db", models_db.path, "db", "list-models", "--counts"]) == 0
    out = capsys.readouterr().out
    assert "stm32ai_modelzoo_summary_tables" in out and out.rstrip().endswith("567 rows")


def test_readonly_refuses_import(tmp_path: Path, published: Path) -> None:
    path = tmp_path / "ro.sqlite"
    AtomDB(path).close()
    with sqlite3.connect(path) as c:  # an AtomDB written before the whole-model tables existed
        c.execute("DROP TABLE model_measurements")
        c.execute("DROP TABLE model_imports")
    before = path.read_bytes()
    with AtomDB(path, readonly=True) as db:
        assert db.model_measurements() == [] and db.model_imports() == []
        with pytest.raises(RuntimeError, match="opened read-only"):
            db.import_model_measurements(published)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.conn.execute("DELETE FROM meta")
    assert path.read_bytes() == before
    with AtomDB(path) as db:  # the first writable open adds the tables
        assert db.import_model_measurements(published).added == 567
    with AtomDB(path, readonly=True) as db:
        assert len(db.model_measurements(family="tinyops")) == 11
