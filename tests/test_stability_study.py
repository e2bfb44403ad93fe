"""``scripts/stability_study.py`` (docs/stability.md): its collapse verdict and the tables it draws from stored runs."""

from __future__ import annotations

import json
import math
import runpy
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STUDY = runpy.run_path(str(REPO / "scripts" / "stability_study.py"))


def _record(variant: str, seed: int, val: list[list[float]], capped: dict[str, list[int]] | None = None,
            lr: float = 3e-3) -> dict[str, Any]:
    options, extra = STUDY["VARIANTS"][variant]
    niter = int(val[-1][0])
    return {"variant": variant, "options": options, "extra": list(extra), "seed": seed, "lr": lr, "niter": niter,
            "l_pix": [0.05] * niter, "l_ker": [2e-3] * niter, "val": val, "stats": [], "capped": capped}


def test_verdict_counts_nan_saturation_and_unrecovered_drops_as_collapses_and_measures_dips() -> None:
    verdict = STUDY["verdict"]
    assert verdict({"val": [[100, 24.0], [200, 25.0], [300, 24.5]]}) | {"best_psnr": 0} == {
        "collapsed": False, "collapse_iter": None, "best_psnr": 0, "dip": 0.5, "final_psnr": 24.5}
    recovered = verdict({"val": [[100, 24.0], [200, 25.0], [300, 20.0], [400, 24.5]]})
    assert not recovered["collapsed"] and recovered["dip"] == 5.0
    assert verdict({"val": [[100, 24.0], [200, 25.0], [300, 21.9], [400, 20.0]]})["collapse_iter"] == 300  # stays down
    assert verdict({"val": [[100, 24.0], [150, math.nan]]})["collapse_iter"] == 150
    assert verdict({"val": [[100, 7.3], [200, 7.3]]})["collapse_iter"] == 100  # saturated from the start


def test_report_tables_every_stored_variant_with_its_collapses_and_capped_steps(tmp_path: Path) -> None:
    runs = {
        "diagnose_original": _record("original", 0, [[100, 24.0], [200, 25.0], [300, math.nan]]),
        "stress_original_s1": _record("original", 1, [[100, 7.3], [200, 7.3]]),
        "diagnose_stable": _record("stable", 0, [[100, 24.0], [200, 25.5]], {"a": [1, 2, 3], "b": [2]}),
        "stress_stable_s1": _record("stable", 1, [[100, 24.0], [200, 23.0], [300, 25.0]], {"a": [1]}),
        "quality_original_s0": _record("original", 0, [[500, 25.0], [1500, 26.0]], lr=2e-4),
        "quality_stable_s0": _record("stable", 0, [[500, 25.0], [1500, 26.25]], {"a": [3, 37]}, lr=2e-4),
    }
    for tag, record in runs.items():
        (tmp_path / f"{tag}.json").write_text(json.dumps(record))
    lines = STUDY["report"](tmp_path).splitlines()
    stress = [line for line in lines if line.startswith(("| original | 0, 1 |", "| stable | 0, 1 |"))]
    assert stress[0].startswith("| original | 0, 1 | 2/2 | s0 300, s1 100 |")
    assert stress[1].startswith("| stable | 0, 1 | 0/2 | - | 1.00 dB (s1) | 25.25 (median of 2) | 2 (median of 2) |")
    quality = [line for line in lines if line.startswith(("| original | 26.00", "| stable | 26.25"))]
    assert quality == ["| original | 26.00 | 26.00 | - | - | 2.0e-03 | 2.0e-03 |",
                       "| stable | 26.25 | 26.25 | +0.25 dB | s0: 2 (last 37) | 2.0e-03 | 2.0e-03 |"]
    assert STUDY["_paired"]([0.1, -0.1, 0.3]) == "+0.10 dB (se 0.12; higher on 2 of 3)"


def test_ladder_climbs_from_the_stress_rate_until_the_first_collapse_or_descends_until_the_first_survival(
    tmp_path: Path,
) -> None:
    """Every rung is stored, so nothing trains: the ladder reads the rungs it needs and stops at the first one on
    the other side (the rungs beyond it are not read)."""
    ok, nan = [[100, 24.0], [200, 25.0]], [[100, 24.0], [150, math.nan]]
    runs = {"diagnose_stable": ("stable", 3e-3, ok), "ladder_stable_lr0.006": ("stable", 6e-3, ok),
            "ladder_stable_lr0.01": ("stable", 1e-2, nan), "ladder_stable_lr0.02": ("stable", 2e-2, ok),
            "diagnose_original": ("original", 3e-3, nan), "ladder_original_lr0.001": ("original", 1e-3, ok)}
    for tag, (variant, lr, val) in runs.items():
        (tmp_path / f"{tag}.json").write_text(json.dumps(_record(variant, 0, val, lr=lr)))
    rungs = STUDY["ladder"](tmp_path)
    assert [(r["lr"], r["collapsed"]) for r in rungs["stable"]] == [(3e-3, False), (6e-3, False), (1e-2, True)]
    assert [(r["lr"], r["collapsed"]) for r in rungs["original"]] == [(3e-3, True), (1e-3, False)]


def test_loss_table_compares_each_variant_with_the_original_on_the_same_seeds_and_prefers_the_longest_run() -> None:
    def run(variant: str, seed: int, early: float, late: float, niter: int) -> dict[str, Any]:
        record = _record(variant, seed, [[niter, 25.0]], lr=2e-4)
        record["l_pix"] = [early] * 50 + [late] * (niter - 50)
        return record

    runs = [run("original", 0, 0.2, 0.04, 1500), run("original", 1, 0.2, 0.04, 1500),
            run("original", 0, 9.0, 9.0, 300),  # the original's early run of seed 0: superseded too
            run("stable", 0, 0.1, 0.042, 1500), run("stable", 0, 9.0, 9.0, 300),  # seed 0's early run: superseded
            run("stable", 1, 0.3, 0.04, 300), run("stable", 7, 0.1, 0.04, 300)]  # seed 7: no original to compare
    lines = STUDY["loss_table"](runs)
    assert lines[-1] == ("| stable | 0, 1 | +0.0 % (1/2 higher) | +2.5 % (1/2 higher) | +5.0 % (1/1 higher) |")


def test_stress_table_reports_the_final_training_loss_of_runs_that_stayed_finite(tmp_path: Path) -> None:
    saturated = _record("original", 0, [[100, 24.0], [200, 7.3]])
    saturated["l_pix"] = [0.05] * 150 + [0.45] * 50
    nan = _record("original", 1, [[100, 24.0], [150, math.nan]])
    nan["l_pix"][-1] = math.nan
    for tag, record in (("stress_original_s0", saturated), ("stress_original_s1", nan)):
        (tmp_path / f"{tag}.json").write_text(json.dumps(record))
    row = next(line for line in STUDY["report"](tmp_path).splitlines() if line.startswith("| original | 0, 1 |"))
    assert row.endswith("| 0.450 (0.450) |")
