#!/usr/bin/env bash
# The throughput benchmark on a GPU, as one command (under 5 minutes on one recent GPU):
#   bash benchmarks/gpu.sh
# conv_ae on CIFAR-sized data (50k x 3 x 32 x 32 uint8, kept in GPU memory): fp32, bf16 mixed
# precision, and bf16 + channels_last + torch.compile; then lstm_vae tokens/s in bf16.
# Figures go to benchmarks/results/gpu_*.json; copy them into experiments/performance/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
common=(--accelerator gpu --cases 32 --images 50000 --batch-size 256 --epochs 2 --rounds 1)
python benchmarks/throughput.py "${common[@]}" --precision 32-true --out benchmarks/results/gpu_fp32.json
python benchmarks/throughput.py "${common[@]}" --precision bf16-mixed --out benchmarks/results/gpu_bf16.json
python benchmarks/throughput.py "${common[@]}" --precision bf16-mixed --channels-last --compile \
  --out benchmarks/results/gpu_bf16_compile.json
python benchmarks/throughput.py --accelerator gpu --precision bf16-mixed --cases text --epochs 2 \
  --rounds 1 --text-sentences 20000 --out benchmarks/results/gpu_text_bf16.json
