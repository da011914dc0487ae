#!/usr/bin/env bash
# On a lent GPU machine, in one call (after benchmarks/gpu_prepare.sh here):
#   run command="bash benchmarks/gpu_session.sh" carry=[".gpu_carry"] timeout_s=590
# Sets up what the machine lacks, checks every import one by one (a hang shows as the import
# that timed out, not as a silent call), then runs the GPU scripts, each under its own
# timeout so that one stuck step costs its own minutes only:
#   train   experiments/gpu_screen.sh (CPU recipes, text and x4, at their own step budget)
#           beside experiments/text_wordnet/gpu.sh's Transformer runs, sharing the GPU
#   bench   benchmarks/gpu.sh (throughput, the GPU to itself)
# JOBS picks and orders them (default "train bench"); TRAIN_S and BENCH_S are their limits.
# What comes back (the tool's $OUT, at most 8 files): session.log, one log per job, runs.tgz (run dirs
# without checkpoints) and bench.tgz (benchmarks/results/gpu_*.json).
# Its limits add up to about 540 s (imports 40, train 330, bench 160): a 590 s call.
set -uo pipefail
RET=${OUT:-outputs/gpu_session}  # the tool's folder of files to bring back
unset OUT  # the GPU scripts read OUT as where their runs go
mkdir -p "$RET"
exec > >(tee "$RET/session.log") 2>&1
start=$(date +%s)
say() { echo "[$(( $(date +%s) - start ))s] $*"; }
carry=${CARRY:-.gpu_carry}
# the image's python3 is a virtualenv's: a wrapper (not a symlink, which would lose the
# virtualenv) makes `python`, which the scripts call, that interpreter
py=$(command -v python3)
mkdir -p /tmp/bin && printf '#!/bin/sh\nexec %s "$@"\n' "$py" > /tmp/bin/python && chmod +x /tmp/bin/python
export PATH=/tmp/bin:$PATH PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
say "python: $py"
timeout 120 python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target /tmp/site "$carry"/whl/*.whl || { say "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD/src
# the scripts' default data paths, ../shared/datasets/*, as beside a checkout here
[ -e ../shared/datasets ] || { mkdir -p ../shared && ln -s "$(realpath "$carry")/datasets" ../shared/datasets; }
for m in torch pyarrow pandas tokenizers torchmetrics lightning omegaconf hydra datasets aelab.run; do
  timeout 90 python -c "import $m; print('$m', getattr($m, '__version__', ''))" \
    || { say "import $m failed or hung (rc $?)"; exit 1; }
  say "imported $m"
done
timeout 60 python -c "import torch; print(torch.cuda.get_device_name(0), torch.randn(2, device='cuda').sum().item() * 0)" \
  || { say "no CUDA from torch"; exit 1; }

train() {
  MAX_TIME=${SCREEN_MAX_TIME:-00:00:04:00} bash experiments/gpu_screen.sh \
    > "$RET/screen.log" 2>&1 & local s=$!
  BUDGET_S=${GPU_TEXT_BUDGET_S:-300} RESERVE_S=75 RUNS="transformer_lm transformer_ae transformer_vae" \
    bash experiments/text_wordnet/gpu.sh > "$RET/gpu_text.log" 2>&1 & local g=$!
  wait $s; say "screen rc $?"; wait $g; say "gpu.sh rc $?"
  tail -n 10 "$RET/screen.log"; tail -n 6 "$RET/gpu_text.log"
}
bench() { bash benchmarks/gpu.sh > "$RET/bench.log" 2>&1; say "bench rc $?"; tail -n 25 "$RET/bench.log"; }

export -f say train bench; export RET start  # for the jobs' own shells
for job in ${JOBS:-train bench}; do
  case $job in
    train) limit=${TRAIN_S:-330} ;;
    bench) limit=${BENCH_S:-160} ;;
    *) say "unknown job $job"; continue ;;
  esac
  say "job $job (limit ${limit}s)"
  # in a process group of its own, so that the limit stops the job's runs too, and nothing else
  setsid bash -c "$job" & pid=$!
  ( sleep "$limit"; kill -- -"$pid" 2>/dev/null && say "job $job stopped at its limit" ) & watch=$!
  wait "$pid"; say "job $job ended (rc $?)"; kill "$watch" 2>/dev/null; sleep 2
  tar czf "$RET/runs.tgz" --exclude='*.ckpt' outputs/experiments 2>/dev/null
done
tar czf "$RET/bench.tgz" benchmarks/results/gpu_*.json 2>/dev/null
say "done"; ls -la "$RET"
