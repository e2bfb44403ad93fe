#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install the package into it.
# Sourced by demo.sh and scripts/run_tests.sh; idempotent: a second call installs nothing new.
# Usage: source scripts/setup_env.sh [extra ...]   (extras from pyproject.toml, e.g. dev demo)
set -euo pipefail
DCLS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DCLS_VENV="${DCLS_VENV:-$DCLS_ROOT/.venv}"
extras="$(IFS=,; echo "$*")"

if [ ! -x "$DCLS_VENV/bin/python" ]; then
    echo "[setup] creating virtual environment in $DCLS_VENV"
    python3 -m venv "$DCLS_VENV"
fi
# shellcheck disable=SC1091
source "$DCLS_VENV/bin/activate"

stamp="$DCLS_VENV/.dcls-installed-$(cat "$DCLS_ROOT/pyproject.toml" | sha1sum | cut -c1-12)-${extras:-base}"
if [ ! -f "$stamp" ]; then
    python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    if ! python -c "import torch" >/dev/null 2>&1; then
        # A CPU build is enough for the demo and the tests; prefer the pinned local wheel when there is one.
        echo "[setup] installing PyTorch"
        python -m pip install -q "torch==2.13.0" || python -m pip install -q "torch>=2.1"
    fi
    echo "[setup] installing dcls${extras:+[$extras]}"
    python -m pip install -q -e "$DCLS_ROOT${extras:+[$extras]}"
    touch "$stamp"
fi
