#!/usr/bin/env bash
# Reproduces experiments/restoration/README.md: the classical baselines, the residual U-Net
# (model=unet) for denoising at sigma 15 / 25 / 50 and x2 / x4 super-resolution on the real
# photo patches, the dense-bottleneck conv_ae for comparison, the same two tasks on
# Fashion-MNIST, then the tables and crops. Run from the repository root after
# `pip install -e ".[restoration]"` (bm3d, scikit-image). Every training is a recipe,
# conf/experiment/history/restoration/<run>.yaml, one CPU thread each (threads=1): two ran side by side.
set -euo pipefail
OUT=${OUT:-outputs/experiments/restoration}
PHOTOS=${PHOTOS:-../shared/datasets/photos}
FASHION=${FASHION:-../shared/datasets/fashion_mnist}
HERE=experiments/restoration
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=1

python -m experiments.restoration.classical --data "$PHOTOS" --out $HERE/classical_photos.json
python -m experiments.restoration.classical --data "$FASHION" --sigmas 76.5 --factors 2 \
    --out $HERE/classical_fashion_mnist.json  # sigma 0.3, the bottleneck run's setting

run() { python train.py experiment=restoration/"$1" "${@:2}" hydra.run.dir="$OUT/$1"; }
for r in denoise15 denoise25 denoise50 upscale2 upscale2_aug upscale4 upscale4_aug \
         upscale4_long upscale4_l1 upscale4_psnr upscale4_psnr_depth3 upscale4_psnr_depth3_ema \
         upscale4_lowres upscale4_lowres_wide upscale4_lowres_psnr upscale4_l1_depth3_w24 \
         upscale4_lowres_crop28 upscale4_lowres_crop24 upscale4_lowres_border \
         upscale4_lowres_biasfree upscale4_lowres_biasfree_psnr \
         bottleneck_denoise25 bottleneck_upscale2; do
    run $r data.path="$PHOTOS"
done
for r in fashion_denoise fashion_upscale2; do run $r data.path="$FASHION"; done
# the best x4 recipe again with another seed: how much of a difference between x4 rows is noise
python train.py experiment=history/restoration/upscale4_lowres seed=1 data.path="$PHOTOS" \
    hydra.run.dir="$OUT/upscale4_lowres_seed1"

python -m experiments.restoration.table --classical $HERE/classical_photos.json --name photos \
    --runs "$OUT"/{denoise15,denoise25,denoise50,upscale2,upscale2_aug,upscale4,upscale4_aug,upscale4_long,upscale4_l1,upscale4_psnr,upscale4_psnr_depth3,upscale4_psnr_depth3_ema,upscale4_lowres,upscale4_lowres_seed1,upscale4_lowres_wide,upscale4_lowres_psnr,upscale4_l1_depth3_w24,upscale4_lowres_crop28,upscale4_lowres_crop24,upscale4_lowres_border,bottleneck_denoise25,bottleneck_upscale2,upscale4_lowres_biasfree,upscale4_lowres_biasfree_psnr}
python -m experiments.restoration.table --classical $HERE/classical_fashion_mnist.json --name fashion_mnist \
    --runs "$OUT"/{fashion_denoise,fashion_upscale2}

# The x4 nets averaged over the 8 flips and quarter turns of their input (EDSR+), into each
# run's eval_metrics_self_ensemble.json; compare.py gathers them with the plain scores into
# results/self_ensemble.md (study.yaml).
SE="upscale2_aug upscale4_aug upscale4_l1 upscale4_psnr upscale4_psnr_depth3 upscale4_lowres upscale4_lowres_seed1"
for r in $SE; do
    python eval.py run_dir="$OUT/$r" self_ensemble=true
done
python compare.py --study $HERE --out-root "$OUT"

# Several x4 nets as one (outputs averaged), plain and self-ensembled: ensemble.json.
rm -f $HERE/ensemble.json
ens() { python $HERE/ensemble.py "$@" --out $HERE/ensemble.json; }
ens "$OUT"/upscale4_{lowres,psnr_depth3}
ens "$OUT"/upscale4_{lowres,psnr_depth3} --self-ensemble
ens "$OUT"/upscale4_{lowres,psnr_depth3,l1_depth3_w24,lowres_wide,l1}
ens "$OUT"/upscale4_{lowres,lowres_seed1}
ens "$OUT"/upscale4_{lowres,lowres_seed1} --self-ensemble

# The x4 runs' Y PSNR split by test photo (sky / plants): per_photo_x4.json, quoted in the README.
python $HERE/per_photo.py "$OUT"/{upscale4_aug,upscale4_long,upscale4_l1,upscale4_psnr,upscale4_psnr_depth3,upscale4_lowres,upscale4_lowres_wide,upscale4_lowres_psnr,upscale4_l1_depth3_w24,upscale4_lowres_crop28,upscale4_lowres_crop24,upscale4_lowres_border,upscale4_lowres_biasfree,upscale4_lowres_biasfree_psnr} \
    > $HERE/per_photo_x4.json
# ... and by how well bicubic already does on each patch: where the x4 gain is lost.
python $HERE/per_photo.py "$OUT"/upscale4_lowres_biasfree --bins 40,45,48,50 > $HERE/per_photo_bins_x4.json

# The x4 gain against the number of training photos: upscale4_lowres on nested subsets of 3, 5
# and 7 of the 9 (and on a second draw of 5 sharing only two photos with the first), the same
# 6,280 steps each; per_photo.py gives the photos_x4.json rows the README quotes.
for a in "3 0 photos_3" "5 0 photos_5" "7 0 photos_7" "5 3 photos_5_seed3"; do
    set -- $a
    python $HERE/photo_subset.py --data "$PHOTOS" --photos $1 --seed $2 --out outputs/data/$3
done
for r in photos3 photos5 photos7; do run upscale4_lowres_$r; done
python train.py experiment=history/restoration/upscale4_lowres_photos5 data.path=outputs/data/photos_5_seed3 \
    hydra.run.dir="$OUT/upscale4_lowres_photos5_seed3"
python $HERE/per_photo.py "$OUT"/upscale4_lowres_{photos3,photos5,photos5_seed3,photos7} > $HERE/photos_x4.json

# A region of a test photo (192x320), restored whole through generate.py input= (tiled),
# BM3D on the same region; the side-by-side figure and the scores are kept here.
python -m experiments.restoration.photo_region --denoise "$OUT/denoise25" --upscale "$OUT/upscale2_aug" "$OUT/upscale4_aug" \
    --out "$OUT/region"
mkdir -p $HERE/region && cp "$OUT"/region/{side_by_side.png,region.json} $HERE/region/
