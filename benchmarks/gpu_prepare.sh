#!/usr/bin/env bash
# Here, before a lent GPU machine's one call: put what that machine lacks into .gpu_carry/
# (ignored by git), which the call carries. Run from the repository root:
#   bash benchmarks/gpu_prepare.sh
# The machine has torch, lightning, torchmetrics, tokenizers, tensorboard, pandas and pyarrow
# but no hydra-core, omegaconf or datasets, no ../shared beside the checkout, and no network:
# so pure-Python wheels of those (the versions installed here), and a copy of the datasets
# the GPU scripts read (wordnet, photos: 25 MB of the call's 64 MiB).
# Then the call: command `bash benchmarks/gpu_session.sh`, carry [".gpu_carry"].
set -euo pipefail
dest=.gpu_carry
grep -qxF "/$dest/" .git/info/exclude 2>/dev/null || echo "/$dest/" >> .git/info/exclude
rm -rf "$dest" && mkdir -p "$dest/whl" "$dest/datasets"
version() { python -m pip show "$1" | awk '/^Version:/ {print $2}'; }
pkgs=()
for p in hydra-core omegaconf datasets dill multiprocess fsspec; do pkgs+=("$p==$(version "$p")"); done
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  -d "$dest/whl" "${pkgs[@]}"
# hydra's parser runtime is published as a source archive only; it is pure Python
python -m pip wheel -q --no-deps -w "$dest/whl" "antlr4-python3-runtime==$(version antlr4-python3-runtime)"
for d in wordnet photos; do cp -r "../shared/datasets/$d" "$dest/datasets/"; done
chmod -R u+w "$dest"
du -sh "$dest"
