#!/usr/bin/env bash
# Issue 17's GPU benchmark: the workbench (packed and grouped, compiled and not), TRL's
# SFTTrainer in its best mode (when trl is importable) and generation at batch 1 and 8 (with
# and without the cache, against transformers' generate), side by side on one GPU, on the
# gpt2-124M shape at max_len 1024 in bf16 (bench/gpu_bench.py says what is measured).
# Writes bench/results/gpu-<date>.txt (the table) and .json. About 5-7 minutes on an H200.
#
# On the device (from the project's root, with the project's venv made by the README's
# set-up command; TRL from a separate venv if there is one):
#     TRL_PYTHON=.venv-peers/bin/python bash bench/gpu.sh
# Here, on the CPU (tiny model, a few steps, fp32; under 2 minutes; results to a temp dir):
#     bash bench/gpu.sh --dry-run
# Other flags: --steps N --warmup N --batch-size N --new-tokens N --shared DIR --out DIR
#              --only workbench,trl,generate
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi
if [ -z "${TRL_PYTHON:-}" ] && [ -x .venv-peers/bin/python ]; then
  export TRL_PYTHON=.venv-peers/bin/python
fi
exec "$PY" bench/gpu_bench.py "$@"
