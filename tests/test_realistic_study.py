"""``scripts/realistic_study.py`` (docs/realistic.md): the paired differences with their 95% intervals, the tables
it renders, and that the page's tables are exactly those of the committed results file."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STUDY = runpy.run_path(str(REPO / "scripts" / "realistic_study.py"))


def _runs(values: dict[str, list[float]]) -> list[dict]:
    return [{"model": model, "seed": seed,
             "sets": {s: {"psnr_y": v + (0.5 if s == "realistic" else 0.0), "kernel_l1": v / 100, "images": 8}
                      for s in STUDY["SETS"]}}
            for model, per_seed in values.items() for seed, v in enumerate(per_seed)]


def test_paired_difference_has_the_students_t_interval_over_the_common_seeds() -> None:
    runs = _runs({"gaussian": [25.0, 25.2, 24.9], "realistic": [25.6, 25.7, 25.5, 26.0]})
    entry = STUDY["paired"](runs, "gaussian8", "psnr_y")
    assert entry["seeds"] == [0, 1, 2]  # seed 3 has no Gaussian run
    assert entry["differences"] == pytest.approx([0.6, 0.5, 0.6])
    half = 4.303 * 0.057735 / 3**0.5  # t(0.975, 2) * sd / sqrt(n)
    assert entry["mean"] == pytest.approx(0.5667, abs=1e-4)
    assert entry["ci95"] == pytest.approx([0.5667 - half, 0.5667 + half], abs=1e-3)
    assert STUDY["paired"](runs[:1] + runs[3:4], "gaussian8", "psnr_y")["ci95"] is None  # one seed: no interval


def test_report_tables_show_every_run_and_the_paired_differences() -> None:
    runs = _runs({"gaussian": [25.0, 25.2], "realistic": [25.6, 25.7]})
    results = {"runs": runs, "commit": "abcdef123", "torch": "2.x", "cpu": "a CPU", "command": "python x evaluate",
               "paired": STUDY["paired_all"](runs)}
    text = STUDY["report_tables"](results)
    assert "| realistic | gaussian | 0, 1 | 25.50, 25.70 | 25.60 |" in text
    assert "| realistic | gaussian8 | +0.55 dB [" in text and "abcdef1" in text
    assert "realistic_40" not in text  # a model without runs has no rows


def test_the_page_quotes_exactly_the_committed_results() -> None:
    """docs/realistic.md's tables are regenerated from docs/results/realistic_demo.json; without a results file
    the page must say that nothing was measured."""
    page = (REPO / "docs" / "realistic.md").read_text(encoding="utf-8")
    block = page.split("<!-- realistic-results -->\n")[1].split("\n<!-- /realistic-results -->")[0]
    results = STUDY["RESULTS"]
    if not results.is_file():
        assert block.startswith("(not measured yet")
        return
    assert block == STUDY["report_tables"](json.loads(results.read_text()))
