"""``scripts/docs_figures.py``: every figure in README.md and docs/*.md is quoted from a results file under
docs/results/; the check passes on the repository and fails on a changed value, an untraced figure and a
missing key. Also the parsing of ``scripts/measure_setup.py``, which writes the README's set-up figures."""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIGURES = runpy.run_path(str(REPO / "scripts" / "docs_figures.py"))
SETUP = runpy.run_path(str(REPO / "scripts" / "measure_setup.py"))
PAPER = "docs/results/paper.json"
SET5 = f"<!-- fig {PAPER} gaussian8_x4.Set5.psnr_y .2f -->"


def _fatal(root: Path) -> list[str]:
    return [str(p) for p in FIGURES["check"](root) if p.fatal]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The pages and results files of the repository in a temporary root."""
    (tmp_path / "docs" / "results").mkdir(parents=True)
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    for page in (REPO / "docs").glob("*.md"):
        shutil.copy(page, tmp_path / "docs" / page.name)
    for result in (REPO / "docs" / "results").glob("*.json"):
        shutil.copy(result, tmp_path / "docs" / "results" / result.name)
    return tmp_path


def test_the_repository_passes() -> None:
    assert _fatal(REPO) == []
    assert FIGURES["main"](["--check", "--root", str(REPO)]) == 0


def test_readme_quotes_the_paper_and_the_setup_through_markers() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert SET5 in readme and f"<!-- fig {PAPER} div2krk.x4.ssim_y .4f -->" in readme
    for key in ("demo_psnr_y.model", "demo_psnr_y.bicubic", "demo_seconds", "venv_mib"):
        assert f"<!-- fig docs/results/setup_demo.json {key} " in readme, key
    assert "source" in json.loads((REPO / PAPER).read_text(encoding="utf-8"))
    assert len(readme.splitlines()) <= 250


def test_no_page_has_an_untraced_figure() -> None:
    """README.md and every docs page are strict: no untraced figure, not even a warning."""
    assert [str(p) for p in FIGURES["check"](REPO) if "untraced" in p.message] == []


def test_a_changed_value_in_a_results_file_fails_and_write_repairs_it(copy: Path) -> None:
    path = copy / PAPER
    data = json.loads(path.read_text(encoding="utf-8"))
    data["gaussian8_x4"]["Set5"]["psnr_y"] = 31.5
    path.write_text(json.dumps(data), encoding="utf-8")
    problems = _fatal(copy)
    assert len(problems) == 1 and "says '32.12', the file gives '31.50'" in problems[0]
    assert problems[0].startswith("README.md:")
    assert FIGURES["main"](["--check", "--root", str(copy)]) == 1
    assert FIGURES["main"](["--write", "--root", str(copy)]) == 0
    assert f"{SET5}31.50<!-- /fig -->" in (copy / "README.md").read_text(encoding="utf-8")
    assert _fatal(copy) == [] and not list(copy.glob(".README.md.*"))  # the temporary file was replaced


@pytest.mark.parametrize("figure", ["PSNR-Y 26.31 dB", "gains +0.7dB", "x1.52 faster", "1.5x faster", "12 ms",
                                    "3.2 ms per step", "×2.5"])
def test_an_untraced_figure_fails(copy: Path, figure: str) -> None:
    with (copy / "docs" / "training.md").open("a", encoding="utf-8") as f:
        f.write(f"\nThe new code is faster: {figure}.\n")
    problems = _fatal(copy)
    assert len(problems) == 1 and problems[0].startswith("docs/training.md:") and "untraced" in problems[0]


def test_definitions_code_and_blocks_are_not_figures(copy: Path) -> None:
    text = ("\nA drop of more than 15 dB, at x4, 8x slower.\n\n```bash\necho 1.25 dB 3 ms x1.5\n```\n\n"
            "<!-- table -->\n| a | 26.31 dB |\n<!-- /table -->\n<!-- note: was 2.5 dB -->\n"
            f"Set5: {SET5}32.12<!-- /fig --> dB.\n")
    with (copy / "docs" / "training.md").open("a", encoding="utf-8") as f:
        f.write(text)
    assert _fatal(copy) == []


def test_a_missing_key_or_file_fails(copy: Path) -> None:
    readme = copy / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace(SET5, SET5.replace("Set5", "Set6"), 1), encoding="utf-8")
    problems = _fatal(copy)
    assert len(problems) == 1 and "no key 'Set6'" in problems[0]
    readme.write_text(text.replace(SET5, SET5.replace("paper.json", "lost.json"), 1), encoding="utf-8")
    problems = _fatal(copy)
    assert len(problems) == 1 and "docs/results/lost.json does not exist" in problems[0]


def test_lookup_walks_dicts_and_list_indices() -> None:
    data = {"runs": [{"psnr": 26.0}, {"psnr": 27.5}]}
    assert FIGURES["lookup"](data, "runs.1.psnr") == 27.5
    assert FIGURES["lookup"](data, "runs.-1.psnr") == 27.5
    with pytest.raises(FIGURES["FigureError"]):
        FIGURES["lookup"](data, "runs.2.psnr")


def test_measure_setup_reads_the_last_demo_result_line() -> None:
    output = ("==> [0 s] 1/6 Python environment\nDEMO RESULT: PSNR-Y model=1.00 bicubic=2.00\n"
              "...\nDEMO RESULT: PSNR-Y model=26.27 bicubic=25.20\n\nTry the demo model ...\n")
    assert SETUP["parse_demo_result"](output) == {"model": 26.27, "bicubic": 25.20}
    with pytest.raises(ValueError, match="no 'DEMO RESULT"):
        SETUP["parse_demo_result"]("demo took 12 s\nthe trained model does NOT beat bicubic upsampling\n")
