#!/usr/bin/env bash
# The whole DCLS pipeline on a fresh clone, in one command and without a GPU:
# environment -> demo data -> train a small DCLS -> test it next to bicubic -> super-resolve -> summary.
# Idempotent: a second run reuses .venv, demo_data/ and the trained model (DEMO_RETRAIN=1 trains again).
# Prints the line `DEMO RESULT: PSNR-Y model=<x> bicubic=<y>` (exit status non-zero if the model loses), then
# the command that opens the web page (dcls-app) on the demo model.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

NAME=DCLS_demo_x4
TRAIN_OPT=options/demo/train_demo_x4.yml
TEST_OPT=options/demo/test_demo_x4.yml
BENCH=demo_data/test/Gaussian8
MODEL=experiments/$NAME/models/latest_G.pth
RESULTS=results/$NAME
start=$(date +%s)

step() { printf '\n==> [%s s] %s\n' "$(($(date +%s) - start))" "$*"; }

# On a CPU, one OpenMP thread: with two, any other busy process on a 2-core machine makes each training
# step 20-60x slower (threads spin at every barrier); one thread costs about 30% on an idle machine.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

step "1/6 Python environment (.venv)"
# shellcheck source=scripts/setup_env.sh
source scripts/setup_env.sh demo

step "2/6 Demo data from scikit-image photographs (demo_data/, sources in demo_data/SOURCES.md)"
python scripts/prepare_demo_data.py

if [ "${DEMO_RETRAIN:-0}" = "1" ] || [ ! -f "$MODEL" ]; then
    step "3/6 Training a small DCLS on $(python -c 'import torch; print("the GPU" if torch.cuda.is_available() else "the CPU")') ($TRAIN_OPT)"
    resume=(--auto_resume)
    [ "${DEMO_RETRAIN:-0}" = "1" ] && resume=()
    # --auto_resume: a demo interrupted during training continues from its last checkpoint.
    python codes/train.py -opt "$TRAIN_OPT" "${resume[@]}"
else
    step "3/6 Reusing the trained model $MODEL (DEMO_RETRAIN=1 to train again)"
fi

step "4/6 Testing on the demo Gaussian8 x4 set ($TEST_OPT)"
python codes/test.py -opt "$TEST_OPT"

step "5/6 Super-resolving demo images as you would your own (results/demo/inference/)"
python codes/inference.py -opt "$TEST_OPT" --input "$BENCH/LRblur/x4" --output results/demo/inference --save_kernel
python scripts/make_figs.py -opt "$TEST_OPT" --output_dir "$RESULTS/figs"

step "6/6 Summary: DCLS vs bicubic upsampling of the same LR images"
echo "SR images and kernel pictures: $RESULTS/demo_Gaussian8/   own-image inference: results/demo/inference/"
echo "pictures: $RESULTS/figs/   TensorBoard: tensorboard --logdir experiments/$NAME/tb_logger"
echo "demo took $(($(date +%s) - start)) s"
status=0
python scripts/demo_summary.py --metrics "$RESULTS/metrics.json" --set demo_Gaussian8 \
    --lr_dir "$BENCH/LRblur/x4" --hr_dir "$BENCH/HR/x4" || status=$?

echo
echo "Try the demo model on your own images in the browser (installs the web page's extra, Gradio, first):"
echo "  source scripts/setup_env.sh app && dcls-app -opt $TEST_OPT"
exit "$status"
