#!/usr/bin/env bash
# Reproduces experiments/linear_floor: every image autoencoder family at its defaults (the
# linear path and the per-image PSNR loss) against PCA of the same code size, 16 / 32 / 64 /
# 128 floats, 5 epochs, on Fashion-MNIST and on the photographs; seed 0, one CPU thread per
# run, two runs side by side. Run from the repository root.
set -euo pipefail
OUT=${OUT:-outputs/experiments/linear_floor}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=1

jobs() {  # the slowest first, so the two queues end together
    for model in resnet_ae conv_ae mlp_ae pca; do
        for data in fashion_mnist photos; do
            for size in 128 64 32 16; do
                echo "$data $model $size"
            done
        done
    done
}
run() {
    local data=$1 model=$2 size=$3 dir="$OUT/$1/$2/$3"
    [ -f "$dir/metrics.json" ] && return 0
    python train.py experiment=linear_floor/"$data" model="$model" model.latent_dim="$size" \
        hydra.run.dir="$dir" > /dev/null 2>&1 || echo "FAILED: $data $model $size" >&2
}
export -f run
export OUT
jobs | xargs -P 2 -L 1 bash -c 'run "$@"' _

# The control: the plain nets (model.linear_path=none, the MSE loss: the defaults before this
# study) at 32 floats, on the photos (every family) and on Fashion-MNIST (conv_ae, mlp_ae).
control() {
    local data=$1 model=$2 dir="$OUT/plain/$1/$2"
    [ -f "$dir/metrics.json" ] && return 0
    python train.py experiment=linear_floor/"$data" model="$model" model.latent_dim=32 \
        model.linear_path=none model.loss=mse hydra.run.dir="$dir" > /dev/null 2>&1 \
        || echo "FAILED: plain $data $model" >&2
}
export -f control
printf '%s\n' "fashion_mnist conv_ae" "photos resnet_ae" "photos conv_ae" "photos mlp_ae" \
    "fashion_mnist mlp_ae" | xargs -P 2 -L 1 bash -c 'control "$@"' _

# A second data size: 8,000 Fashion-MNIST training images, 2,000 photo patches, the same
# 5 epochs, at 32 floats: the default (linear path) against PCA and the plain net.
small() {
    local data=$1 limit=$2 name=$3 dir="$OUT/small/$1/$3"; shift 3
    [ -f "$dir/metrics.json" ] && return 0
    python train.py experiment=linear_floor/"$data" data.limit="$limit" model.latent_dim=32 "$@" \
        hydra.run.dir="$dir" > /dev/null 2>&1 || echo "FAILED: small $data $name" >&2
}
for args in "fashion_mnist 8000" "photos 2000"; do
    # shellcheck disable=SC2086
    small $args pca model=pca &
    small $args conv_ae model=conv_ae
    wait
    small $args conv_ae_plain model=conv_ae model.linear_path=none model.loss=mse
done

# Longer and augmented, on the photos at 32 floats: conv_ae for 30 epochs, without and with
# flips and quarter turns of the training patches (results/screen.md).
for aug in none flips; do
    dir="$OUT/screen/conv_e30$([ $aug = flips ] && echo _flips)"
    [ -f "$dir/metrics.json" ] || python train.py experiment=linear_floor/photos model=conv_ae \
        model.latent_dim=32 trainer.max_epochs=30 data.augment=$aug hydra.run.dir="$dir" > /dev/null
done

# The tables (generated from the run dirs, not typed), as experiments/linear_floor/study.yaml
# declares them: results/ (every family against PCA), results/control, results/small.
python compare.py --study experiments/linear_floor --out-root "$OUT"

# Where the nets gain on PCA at 32 floats on the photos: the test patches by quarter of PCA's
# own PSNR and by photo (results/by_patch.md).
python -m experiments.linear_floor.by_patch "$OUT/photos/pca/32" "$OUT/photos/conv_ae/32" \
    "$OUT/photos/mlp_ae/32" "$OUT/photos/resnet_ae/32" "$OUT/plain/photos/conv_ae"

# What a code of 16-128 floats can buy over PCA on the photos without a net (PCA fitted on the
# scored images themselves; local PCA, a mixture of K subspaces): results/ceilings_photos.md.
# Tens of CPU minutes on one thread (local PCA's refits at 128 floats are most of it).
python -m experiments.linear_floor.ceilings --data ../shared/datasets/photos \
    --out experiments/linear_floor/results/ceilings_photos
