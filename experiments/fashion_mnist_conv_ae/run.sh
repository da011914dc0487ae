#!/usr/bin/env bash
# Reproduces the table in README.md: conv_ae on Fashion-MNIST, latent 16 / 32 / 64, 5 epochs.
# The runs are the recipes conf/experiment/history/fashion_mnist_conv_ae/latent<z>.yaml. Run from the
# repository root; DATA (default: the recipes' offline copy beside the repo) replaces data.path.
set -euo pipefail
OUT=${OUT:-outputs/experiments/fashion_mnist_conv_ae}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
data=(${DATA:+data.path=$DATA})
for z in 16 32 64; do
  python train.py experiment=history/fashion_mnist_conv_ae/latent$z "${data[@]}" hydra.run.dir="$OUT/latent$z"
  python eval.py run_dir="$OUT/latent$z"
done
for z in 16 32 64; do  # the linear floor: PCA with as many components
  python train.py experiment=history/fashion_mnist_conv_ae/pca$z "${data[@]}" hydra.run.dir="$OUT/pca$z"
done
