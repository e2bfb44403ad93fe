"""``scripts/stability_study.py`` (docs/stability.md): its collapse verdict and the tables it draws from stored runs."""

from __future__ import annotations

import json
import math
import runpy
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STUDY = runpy.run_path(str(REPO / "scripts" / "stability_study.py"))


def _record(variant: str, seed: int, val: list[list[float]], lr: float = 3e-3) -> dict[str, Any]:
    """A stored run of ``variant`` that stopped at its last validation (a stress run: 600 iterations planned)."""
    options, extra = STUDY["VARIANTS"][variant]
    done = int(val[-1][0])
    return {"variant": variant, "options": options, "extra": list(extra), "seed": seed, "lr": lr,
            "niter": 600 if lr == 3e-3 else 1500, "l_pix": [0.05] * done, "l_ker": [2e-3] * done, "val": val,
            "stats": [], "capped": None, "seconds": 1.0}


def test_verdict_counts_nan_saturation_and_unrecovered_drops_as_collapses_and_measures_dips() -> None:
    verdict = STUDY["verdict"]
    assert verdict({"val": [[100, 24.0], [200, 25.0], [300, 24.5]]}) | {"best_psnr": 0} == {
        "collapsed": False, "collapse_iter": None, "best_psnr": 0, "dip": 0.5, "final_psnr": 24.5}
    recovered = verdict({"val": [[100, 24.0], [200, 25.0], [300, 20.0], [400, 24.5]]})
    assert not recovered["collapsed"] and recovered["dip"] == 5.0
    assert verdict({"val": [[100, 24.0], [200, 25.0], [300, 21.9], [400, 20.0]]})["collapse_iter"] == 300  # stays down
    assert verdict({"val": [[100, 24.0], [150, math.nan]]})["collapse_iter"] == 150
    assert verdict({"val": [[100, 7.3], [200, 7.3]]})["collapse_iter"] == 100  # saturated from the start


def _stored(tmp_path: Path, runs: dict[str, dict[str, Any]]) -> Path:
    for tag, record in runs.items():
        record["resolved"] = {"train": {"lr_G": record["lr"]}}
        (tmp_path / f"{tag}.json").write_text(json.dumps(record))
    return tmp_path


def test_results_summarise_collapses_by_kind_and_pair_quality_with_the_original_on_the_same_seeds(
    tmp_path: Path, monkeypatch,
) -> None:
    nan = _record("original", 0, [[100, 24.0], [200, math.nan]])
    nan["l_pix"][-1] = math.nan
    quality = {f"quality_{v.replace(' ', '_')}_s{s}": _record(v, s, [[500, 25.0 + d], [1000, 25.5 + d],
                                                                      [1500, 26.0 + d]], lr=2e-4)
               for v, deltas in (("original", (0, 0, 0)), ("cap-1e-2", (0.1, -0.1, 0.3))) for s, d in
               zip(range(3), deltas)}
    out = _stored(tmp_path, {
        "diagnose_original": nan,
        "stress_original_s1": _record("original", 1, [[100, 7.3]]),
        "diagnose_cap-1e-2": _record("cap-1e-2", 0, [[100, 24.0], [600, 25.5]]),
        "stress_cap-1e-2_s1": _record("cap-1e-2", 1, [[100, 24.0], [600, 25.0]]),
        **quality,
    })
    monkeypatch.setitem(STUDY["collect"].__globals__, "bicubic_psnr_y", lambda options: 25.0)
    results = STUDY["collect"](out)
    assert results["stress"]["original"]["failures"] == {"NaN": 1, "saturated": 1, "drop": 0}
    assert results["stress"]["original"]["collapse_rate"]["rate"] == 1.0
    cap = results["stress"]["cap-1e-2"]
    assert cap["collapsed"] == 0 and cap["collapse_rate"]["ci95"][0] == 0.0
    assert cap["final_psnr_y_minus_bicubic"]["mean"] == 0.25
    paired = results["quality"]["cap-1e-2"]["psnr_y_minus_original"]["1500"]
    assert paired["n"] == 3 and abs(paired["mean"] - 0.1) < 1e-9 and paired["ci95"][0] < 0 < paired["ci95"][1]
    assert results["recipes"]["cap-1e-2"]["resolved_train"] == {"lr_G": 3e-3}
    lines = STUDY["report"](results).splitlines()
    assert any(line.startswith("| original | `train_demo_x4.yml` | 2 | 2/2 [0.34, 1.00] | 1 / 1 / 0 |")
               for line in lines)
    assert "| cap-1e-2 | 26.10 (n=3) | +0.10 [" in "\n".join(lines)




def test_the_page_shows_exactly_the_committed_results() -> None:
    """docs/stability.md's tables are the report of docs/results/stability_controls.json, and every recipe the
    page's table of controls names has a row in it."""
    page = (REPO / "docs" / "stability.md").read_text(encoding="utf-8")
    start, end = STUDY["DOC_MARKERS"]
    block = page.split(start)[1].split(end)[0]
    results = json.loads(STUDY["RESULTS"].read_text())
    assert block == STUDY["report"](results)
    assert set(results["stress"]) == set(STUDY["CONTROLS"])
    assert all(len(summary["seeds"]) >= 3 for summary in results["stress"].values())


def test_the_recommended_recipe_of_the_study_is_the_shipped_stable_demo_file() -> None:
    """The study measures the recommended remedy as overrides of the demo file; they must resolve to exactly the
    training options of options/demo/train_demo_x4_stable.yml."""
    from dcls.config import load_options

    options, overrides = STUDY["VARIANTS"]["cap-1e-2+clip-1e-1"]
    study, _ = load_options(REPO / options, is_train=True, overrides=list(overrides), check_paths=False)
    shipped, _ = load_options(REPO / "options/demo/train_demo_x4_stable.yml", is_train=True, check_paths=False)
    assert study["train"] == shipped["train"]
