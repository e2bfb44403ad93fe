#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go: the GPU-marked tests, the paper-scale training benchmark and
# the loader at the paper's batch on the GPU machine's cores (about 11 minutes on one H100/H200); with GPU_CHECKS_FULL=1 also the other benchmarks on CUDA and a short
# demo training run on the GPU. Run from anywhere in an environment that has the requirements installed
# (the package itself need not be installed). Output directory: $1 (default: results/gpu_checks).
# PAPER_BENCH_ARGS overrides the paper benchmark's size, e.g. "--batch 32" or "--no-compile".
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="$(mkdir -p "${1:-$ROOT/results/gpu_checks}" && cd "${1:-$ROOT/results/gpu_checks}" && pwd)"
export PYTHONPATH="$ROOT/codes${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
cd "$ROOT"
status=0
run() { echo; echo "==> $*"; "$@" || { echo "FAILED ($?): $*"; status=1; }; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"

run "$PY" -m pytest -q -m gpu -p no:cacheprovider
# The paper's batch (64 HR patches of 256x256) with every execution option beside the original's algorithm.
run bash -o pipefail -c "timeout 420 '$PY' benchmarks/bench_train.py --preset paper --device cuda --repeats 5 \
    --warmup 2 ${PAPER_BENCH_ARGS:-} 2>&1 | tee '$OUT_DIR/bench_train_paper.txt'"
# The loader alone at the paper's batch on this machine's cores: it should deliver 3x what the GPU consumes.
run bash -o pipefail -c "timeout 150 '$PY' -W ignore benchmarks/bench_data.py --preset paper --workers 0 2 4 8 \
    --batches 10 --repeats 3 2>&1 | tee '$OUT_DIR/bench_data_paper.txt'"
[ "${GPU_CHECKS_FULL:-0}" = 1 ] || exit "$status"

# The CPU figures of these come from a CPU machine.
for bench in bench_core bench_train; do
    run bash -o pipefail -c "'$PY' benchmarks/$bench.py --device cuda 2>&1 | tee '$OUT_DIR/$bench.txt'"
done

# The demo's training on the GPU: data, training, test, tiled inference (the demo itself makes a venv).
work="$(mktemp -d)/demo"
mkdir -p "$work"
run "$PY" scripts/prepare_demo_data.py
start=$(date +%s)
run "$PY" codes/train.py -opt options/demo/train_demo_x4.yml --device cuda --set use_tb_logger=false \
    "path.experiments_root=$work/experiment"
echo "demo training on the GPU took $(($(date +%s) - start)) s"
run "$PY" codes/test.py -opt options/demo/test_demo_x4.yml --device cuda \
    --set "path.pretrain_model_G=$work/experiment/models/latest_G.pth" "path.results_root=$work/results"
run "$PY" scripts/demo_summary.py --metrics "$work/results/metrics.json" --set demo_Gaussian8 \
    --lr_dir demo_data/test/Gaussian8/LRblur/x4 --hr_dir demo_data/test/Gaussian8/HR/x4
run "$PY" codes/inference.py -opt options/demo/test_demo_x4.yml --checkpoint "$work/experiment/models/latest_G.pth" \
    --device cuda --input demo_data/test/HR --output "$work/inference" --tile 128 --tile_overlap 16 --save_kernel
exit "$status"
