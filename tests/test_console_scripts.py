"""The commands ``pip install`` creates ([project.scripts]): each resolves to a function of the package, answers
``--help``, and is the very function the repository's scripts run (same options)."""

from __future__ import annotations

import importlib
import re
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

EXPECTED = {"dcls-train", "dcls-test", "dcls-sr", "dcls-app", "dcls-create-lmdb", "dcls-gaussian8", "dcls-div2krk",
            "dcls-realistic", "dcls-demo-data", "dcls-plot-kernels"}
SCRIPT_OF_COMMAND = {
    "dcls-train": "codes/train.py",
    "dcls-test": "codes/test.py",
    "dcls-sr": "codes/inference.py",
    "dcls-create-lmdb": "scripts/create_lmdb.py",
    "dcls-gaussian8": "scripts/generate_mod_blur_LR_bic.py",
    "dcls-div2krk": "scripts/generate_div2krk.py",
    "dcls-realistic": "scripts/generate_realistic.py",
    "dcls-demo-data": "scripts/prepare_demo_data.py",
    "dcls-plot-kernels": "scripts/plot_kernels.py",
}


def declared_scripts() -> dict[str, str]:
    """``name = "module:function"`` lines of pyproject.toml's [project.scripts] table."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.]+:\w+)"', table, re.M))


def resolve(target: str) -> Callable[..., int]:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def test_every_command_is_declared():
    assert set(declared_scripts()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_command_answers_help(name, capsys):
    command = resolve(declared_scripts()[name])
    with pytest.raises(SystemExit) as stopped:
        command(["--help"])
    out = capsys.readouterr().out
    assert stopped.value.code == 0 and out.startswith("usage:") and "--" in out


@pytest.mark.parametrize("name", sorted(SCRIPT_OF_COMMAND))
def test_repository_script_runs_the_same_function(name):
    """``python codes/train.py`` etc. call the command's function (loaded without running it)."""
    namespace = runpy.run_path(str(REPO / SCRIPT_OF_COMMAND[name]))
    function = resolve(declared_scripts()[name])
    assert function in namespace.values(), f"{SCRIPT_OF_COMMAND[name]} does not run {declared_scripts()[name]}"


def test_app_without_gradio_says_how_to_install_it(capsys, monkeypatch, tmp_path):
    """A checkout without the app extra: a one-line error naming the extra, before any model is loaded."""
    monkeypatch.setitem(sys.modules, "gradio", None)
    monkeypatch.delitem(sys.modules, "dcls.app.page", raising=False)
    monkeypatch.delattr(importlib.import_module("dcls.app"), "page", raising=False)
    code = resolve(declared_scripts()["dcls-app"])(["--checkpoint", str(tmp_path / "none.pth"), "--scale", "4"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: the web page needs Gradio") and "pip install 'dcls[app]'" in err
