"""``daskflow bench`` end to end at tiny sizes, so the suite never rots; and its pure parts.

The quick run goes through the CLI on real LocalClusters of 1 and 2 workers
and checks that every workload gives well-formed figures and a plot file.
It asserts no speed: the figures of a quick run on a shared machine mean
nothing, only their shape does.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from daskflow.bench.output import output_folder
from daskflow.bench.plot import find_browser
from daskflow.bench.suite import SCHEMA, Settings, add_scaling, total_steps
from daskflow.bench.workloads import WORKLOADS
from daskflow.cli.main import cli

COMMON = {"workload", "case", "workers", "threads", "tasks", "repeat", "load_before",
          "load_after"}
#: Figures each workload must report besides the common fields.
FIGURES = {
    "overhead": {"dask_s", "daskflow_s", "ratio", "overhead_per_task_us", "dask_per_task_us",
                 "daskflow_per_task_us"},
    "lag": {"dask_lag_ms", "daskflow_lag_ms"},
    "cpu": {"dask_s", "daskflow_s", "ratio", "dask_speedup", "daskflow_speedup",
            "dask_efficiency", "daskflow_efficiency"},
    "io": {"dask_s", "daskflow_s", "ratio", "ideal_s", "dask_speedup", "daskflow_speedup"},
    "handoff": {"dask_s", "daskflow_s", "ratio", "database"},
    "memory": {"baseline_mib", "peak_mib", "growth_mib", "daskflow_s"},
}


def _positive_summary(summary: dict) -> None:
    assert 0 < summary["min"] <= summary["median"] <= summary["max"]
    assert all(run > 0 for run in summary["runs"])


@pytest.mark.slow
def test_a_quick_run_of_the_whole_suite_gives_every_figure_and_a_plot(tmp_path):
    out = tmp_path / "bench"
    result = CliRunner().invoke(cli, ["bench", "--quick", "--sizes", "1,2", "--threads",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output

    # Only the results: the runs' store and result store were scratch, now gone.
    assert {p.name for p in out.iterdir()} <= {"results.json", "results.md", "scaling.html",
                                               "scaling.png"}
    report = json.loads((out / "results.json").read_text())
    assert report["schema"] == SCHEMA
    assert report["machine"]["cores"] >= 1 and report["machine"]["versions"]["dask"]
    assert len(report["machine"]["load_average"]) == 3
    records = report["results"]
    assert {(r["workload"], r["workers"]) for r in records} == {
        (name, size) for name in WORKLOADS for size in (1, 2)}
    for rec in records:
        assert COMMON | FIGURES[rec["workload"]] <= set(rec), rec["workload"]
        for key in ("dask_s", "daskflow_s", "baseline_mib", "peak_mib"):
            if key in rec:
                _positive_summary(rec[key])
        if "ratio" in rec:
            assert rec["ratio"] == pytest.approx(rec["daskflow_s"]["median"]
                                                 / rec["dask_s"]["median"])
        for key in ("dask_lag_ms", "daskflow_lag_ms"):
            if key in rec:
                assert rec[key]["n"] == rec["tasks"] - 1
                assert math.isfinite(rec[key]["median"]) and math.isfinite(rec[key]["p99"])
    smallest = {r["workload"]: r for r in records if r["workers"] == 1}
    assert smallest["cpu"]["daskflow_speedup"] == 1.0
    proof = next(r for r in records if r["workload"] == "handoff")["database"]
    assert proof["array_in_db"] is False
    assert proof["largest_xcom_bytes"] < proof["array_bytes"]

    text = (out / "results.md").read_text()
    assert text.count("\n## ") == len(WORKLOADS)
    assert "Bokeh" in (out / "scaling.html").read_text()
    if find_browser():
        assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("workers", "dask", "flow", "speedup", "efficiency"), [
    (1, 8.0, 10.0, 1.0, 1.0),
    (2, 4.0, 5.0, 2.0, 1.0),
    (4, 4.0, 4.0, 2.5, 0.625),
])
def test_speedup_and_efficiency_are_against_the_smallest_size(workers, dask, flow, speedup,
                                                             efficiency):
    rows = [(1, 8.0, 10.0), (2, 4.0, 5.0), (4, 4.0, 4.0)]
    records = [{"workload": "cpu", "case": "c", "workers": w, "dask_s": {"median": d},
                "daskflow_s": {"median": f}} for w, d, f in rows]
    add_scaling(records)
    rec = next(r for r in records if r["workers"] == workers)
    assert rec["daskflow_speedup"] == pytest.approx(speedup)
    assert rec["daskflow_efficiency"] == pytest.approx(efficiency)
    assert rec["dask_speedup"] == pytest.approx(8.0 / dask)


def test_the_progress_bar_counts_every_measured_run():
    settings = Settings(sizes=(1, 2), repeat=3, workloads=("overhead", "memory"))
    assert total_steps(settings) == (6 + 1) * 3 * 2
    assert total_steps(Settings(cluster="tcp://127.0.0.1:8786", repeat=1)) == \
        sum(w.steps_per_repeat for w in WORKLOADS.values())


def test_without_out_a_run_writes_to_a_new_temporary_folder(tmp_path):
    first, second = output_folder(None), output_folder(None)
    try:
        assert first != second and not any(first.iterdir())
        assert first.parent == Path(tempfile.gettempdir())
    finally:
        first.rmdir(), second.rmdir()
    assert output_folder(str(tmp_path / "a" / "b")) == tmp_path / "a" / "b"


@pytest.mark.parametrize(("args", "message"), [
    (["--sizes", "1,x"], "comma-separated"),
    (["--sizes", "0"], "at least 1"),
    (["--only", "overhead,nope"], "unknown"),
])
def test_bad_options_stop_before_anything_runs(args, message, tmp_path):
    result = CliRunner().invoke(cli, ["bench", *args, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "x").exists()


def test_unknown_workloads_are_refused_by_the_settings_too():
    with pytest.raises(ValueError, match="unknown workloads"):
        Settings(workloads=("overhead", "nope"))
