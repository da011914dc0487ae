#!/usr/bin/env bash
# Reproduces experiments/fashion_mnist_conv_ae: conv_ae on Fashion-MNIST at 16 / 32 / 64 floats,
# 5 epochs, beside PCA of the same sizes, then the tables (study.yaml) and the reconstruction
# grid. The runs are the recipes conf/experiment/history/fashion_mnist_conv_ae/; one CPU thread
# per run, two side by side. Run from the repository root; DATA (default: the recipes' offline
# copy beside the repo) replaces data.path.
set -euo pipefail
OUT=${OUT:-outputs/experiments/fashion_mnist_conv_ae}
HERE=experiments/fashion_mnist_conv_ae
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=1 OUT DATA=${DATA:-}

source experiments/lib.sh  # train_recipe
printf '%s\n' latent16 latent32 latent64 pca16 pca32 pca64 \
    | xargs -P 2 -I{} bash -c 'train_recipe "$OUT/{}" history/fashion_mnist_conv_ae/{}'

python compare.py --study $HERE --out-root "$OUT"
python generate.py run_dir="$OUT/latent32" task=reconstruct num_images=32
cp "$OUT/latent32/generated/reconstruct.png" $HERE/reconstructions_latent32.png
