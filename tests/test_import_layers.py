"""The dcls package imports in one direction: an AST scan of every module (function-level imports included).

Layers, lowest first; a module may import its own layer and lower ones only:
  0 errors, registry, plugins, utils  1 ops  2 archs, degradation, losses, metrics  3 accel
  4 data, config, weights, modeling, evaluation, step  5 engine, inference
  6 command lines (``*.cli``), the Python API (``api``), the web page (``app``) and figures/reports (``reports``)
``engine`` and ``inference`` are siblings that never import each other, and there are no import cycles.

One exception: the package's ``__init__`` exports the API's names lazily (PEP 562): it may import ``dcls.api``
inside its module-level ``__getattr__``, which runs on first attribute access, never at import time. Such
an import is left out of the checks; the same import anywhere else in the init is an upward import.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "codes" / "dcls"

LAYERS = {
    "": 0,  # the package's own __init__
    "errors": 0, "registry": 0, "plugins": 0, "utils": 0,
    "ops": 1,
    "archs": 2, "degradation": 2, "losses": 2, "metrics": 2,
    "accel": 3,
    "data": 4, "config": 4, "weights": 4, "modeling": 4, "evaluation": 4, "step": 4,
    "engine": 5, "inference": 5,
    "api": 6, "app": 6, "reports": 6,
}
CLI_LAYER = 6
SIBLINGS = frozenset({"engine", "inference"})
PURE = frozenset({"", "errors", "registry", "plugins", "utils", "ops", "archs", "degradation", "losses", "metrics"})
NOT_FOR_PURE = frozenset({"data", "config", "weights", "modeling", "evaluation", "step", "engine", "inference",
                          "accel", "api", "app", "reports"})
ACCEL_MAY_IMPORT = frozenset({"", "errors", "registry", "plugins", "utils", "ops", "archs", "accel"})
LAZY_EXPORTS = frozenset({"api"})
"""What the package init may import inside its module-level ``__getattr__`` (names exported on first use)."""


@dataclass(frozen=True)
class Edge:
    """One import statement of ``source`` (a module of the scanned package) that reaches ``target``."""

    source: str
    target: str
    where: str  # file:line
    code: str
    lazy: bool = False  # inside a module-level ``__getattr__`` of a package init (runs on attribute access)

    def __str__(self) -> str:
        return f"{self.where} `{self.code}` ({self.source} -> {self.target})"


def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted module name of every .py file under ``package_dir`` (``__init__.py`` is its package)."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _known(name: str, modules: dict[str, Path]) -> str:
    """``name`` or, for a name inside a module (a function, a class), the longest enclosing module."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def scan(package_dir: Path) -> list[Edge]:
    """Every import inside the package between its modules, resolved to the module it loads."""
    package = package_dir.name
    modules = module_names(package_dir)
    edges = []
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        lazy_nodes = {id(n) for f in tree.body if is_package and isinstance(f, ast.FunctionDef)
                      and f.name == "__getattr__" for n in ast.walk(f)}
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name == package or a.name.startswith(package + ".")]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                if origin != package and not origin.startswith(package + "."):
                    continue
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in modules else origin for a in node.names]
            where = f"{path.relative_to(package_dir.parent.parent)}:{node.lineno}" if targets else ""
            for target in dict.fromkeys(_known(t, modules) for t in targets):
                if target != module:
                    edges.append(Edge(module, target, where, ast.unparse(node), id(node) in lazy_nodes))
    return edges


def import_time_edges(edges: list[Edge]) -> list[Edge]:
    """``edges`` without the package init's lazy exports (see the module docstring)."""
    return [e for e in edges if not (e.lazy and e.source.count(".") == 0 and top(e.target) in LAZY_EXPORTS)]


def top(module: str) -> str:
    """The top-level subpackage or module of a dotted name ("" for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str) -> int:
    return CLI_LAYER if module.split(".")[-1] == "cli" else LAYERS[top(module)]


def sibling_imports(edges: list[Edge]) -> list[str]:
    """(a) imports between engine and inference, either way."""
    return [f"{e}: engine and inference must not import each other" for e in edges
            if {top(e.source), top(e.target)} == SIBLINGS]


def pure_layer_imports(edges: list[Edge]) -> list[str]:
    """(b) foundations and pure layers reaching files/options/training code; accel beyond archs/ops."""
    out = []
    for e in edges:
        src, dst = top(e.source), top(e.target)
        if src in PURE and dst in NOT_FOR_PURE:
            out.append(f"{e}: {src or 'the package init'} is a pure layer and must not import {dst}")
        elif src == "accel" and dst not in ACCEL_MAY_IMPORT:
            out.append(f"{e}: accel may import only archs, ops and the foundations, not {dst}")
    return out


def upward_imports(edges: list[Edge]) -> list[str]:
    """(c) an import of a higher layer (or of a module outside the layer list)."""
    out = []
    for e in edges:
        unknown = [m for m in (e.source, e.target) if top(m) not in LAYERS]
        if unknown:
            out.append(f"{e}: {', '.join(unknown)} is in no layer; add its top-level name to LAYERS")
        elif layer(e.target) > layer(e.source):
            out.append(f"{e}: layer {layer(e.source)} imports layer {layer(e.target)}")
    return out


def import_cycles(edges: list[Edge]) -> list[str]:
    """(d) each cycle of the module graph, as the chain of imports that closes it."""
    graph: dict[str, list[Edge]] = {}
    for e in edges:
        graph.setdefault(e.source, []).append(e)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[Edge] = []
    cycles: dict[frozenset[str], str] = {}

    def visit(module: str) -> None:
        state[module] = 1
        for e in graph.get(module, []):
            if state.get(e.target) == 1:
                start = next(i for i, p in enumerate(path + [e]) if p.source == e.target)
                chain = (path + [e])[start:]
                cycles.setdefault(frozenset(p.source for p in chain),
                                  "import cycle: " + " -> ".join(str(p) for p in chain))
            elif e.target not in state:
                path.append(e)
                visit(e.target)
                path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return list(cycles.values())


CHECKS = [sibling_imports, pure_layer_imports, upward_imports, import_cycles]


@pytest.fixture(scope="module")
def dcls_edges() -> list[Edge]:
    edges = scan(PACKAGE_DIR)
    assert any(e.source == "dcls.engine.cli" for e in edges), "the scan found none of the engine's imports"
    return import_time_edges(edges)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_dcls_imports_follow_the_layers(dcls_edges, check):
    problems = check(dcls_edges)
    assert not problems, "\n".join(problems)


def _fake_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "dcls"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(package).parents:
            (package / parent / "__init__.py").touch()
        path.write_text(text)
    return package


def test_scanner_resolves_relative_absolute_and_function_level_imports(tmp_path):
    package = _fake_package(tmp_path, {
        "engine/trainer.py": "def f():\n    from ..inference.files import collect\n",
        "engine/tester.py": "from . import trainer\nfrom dcls.utils import image\nimport dcls.ops.fft\n",
        "inference/files.py": "import os\n\ndef collect():\n    return os\n",
        "utils/image.py": "", "ops/fft.py": "",
    })
    found = {(e.source, e.target, e.where.rsplit("dcls/", 1)[1]) for e in scan(package)}
    assert found == {
        ("dcls.engine.trainer", "dcls.inference.files", "engine/trainer.py:2"),
        ("dcls.engine.tester", "dcls.engine.trainer", "engine/tester.py:1"),
        ("dcls.engine.tester", "dcls.utils.image", "engine/tester.py:2"),
        ("dcls.engine.tester", "dcls.ops.fft", "engine/tester.py:3"),
    }


def test_checks_catch_forbidden_imports(tmp_path):
    package = _fake_package(tmp_path, {
        "engine/trainer.py": "def f():\n    from dcls.inference.files import collect\n",
        "inference/files.py": "from ..engine import trainer\n",
        "ops/fft.py": "from dcls.config import load\n",
        "accel/fast.py": "from ..losses import l1\n",
        "losses.py": "", "config.py": "",
        "data/loader.py": "from dcls.engine.cli import main\n",
        "engine/cli.py": "",
        "newpart.py": "from . import ops\n",
        "utils/a.py": "from .b import g\n",
        "utils/b.py": "def g():\n    from dcls.utils import a\n",
    })
    edges = scan(package)
    siblings = sibling_imports(edges)
    assert len(siblings) == 2 and "engine/trainer.py:2" in siblings[0] and "inference/files.py:1" in siblings[1]
    pure = pure_layer_imports(edges)
    assert any("ops/fft.py:1 `from dcls.config import load`" in p for p in pure)
    assert any("accel/fast.py:1" in p and "not losses" in p for p in pure)
    upward = "\n".join(upward_imports(edges))
    assert "ops/fft.py:1" in upward and "data/loader.py:1" in upward and "layer 4 imports layer 6" in upward
    assert "dcls.newpart is in no layer" in upward
    cycles = import_cycles(edges)
    assert any("utils/a.py:1" in c and "utils/b.py:2" in c for c in cycles)
    assert any("engine/trainer.py:2" in c and "inference/files.py:1" in c for c in cycles)
    assert not import_cycles([e for e in edges if not e.source.startswith(("dcls.utils", "dcls.inference"))])


def test_package_init_may_reach_the_api_only_lazily(tmp_path):
    lazy = "def __getattr__(name):\n    from . import api\n    return getattr(api, name)\n"
    package = _fake_package(tmp_path, {"api.py": "", "engine/cli.py": ""})
    (package / "__init__.py").write_text(lazy)
    edges = scan(package)
    assert [(e.target, e.lazy) for e in edges] == [("dcls.api", True)]
    assert not import_time_edges(edges)
    eager = "from . import api\n" + lazy.replace("from . import api", "from . import engine")
    (package / "__init__.py").write_text(eager)
    kept = import_time_edges(scan(package))
    assert any("layer 0 imports layer 6" in p for p in upward_imports(kept))
    assert any("must not import engine" in p for p in pure_layer_imports(kept))


def test_the_api_is_exported_lazily():
    code = "import sys, dcls; print(sorted(m for m in sys.modules if m.startswith(('dcls.', 'torch'))))"
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent)}
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
    import dcls

    assert "BlindSR" in dir(dcls) and "BlindSR" in dcls.__all__
    from dcls import BlindSR, api

    assert BlindSR is api.BlindSR
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        dcls.nothing  # noqa: B018
