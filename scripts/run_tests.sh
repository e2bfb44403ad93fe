#!/usr/bin/env bash
# The test command: set up .venv (first run only), then run the whole pytest suite.
# Extra arguments go to pytest, e.g. `bash scripts/run_tests.sh -m golden`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh" dev demo app
cd "$DCLS_ROOT"
status=0
python -m pytest "$@" || status=$?
# pytest exits 5 when it collected no test: that is a failure of the suite, not a pass.
exit "$status"
