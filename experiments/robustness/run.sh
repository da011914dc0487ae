#!/usr/bin/env bash
# Reproduces experiments/robustness: the recommended recipes (conf/experiment/text/,
# conf/experiment/images/, restoration/denoise25 and upscale2_aug), unchanged but for the data,
# at their own size, at a second size and (text) on a second domain, each beside the plain
# baseline on the same data. Seed 0, one CPU thread per run, RUNS_IN_PARALLEL side by side
# (default 2). Run from the repository root:
#   bash experiments/robustness/run.sh [all|text|images|text_full|tables]
#   text:   WordNet (full, Transformers only: their first size), WordNet cut to 10,000 sentences
#           per split (data.limit=10000), the King James Bible's verses (../shared/datasets/bible)
#   images: Fashion-MNIST (full and data.limit=8000); the photos from 5 of the 9 training photos
set -euo pipefail
OUT=${OUT:-outputs/experiments/robustness}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=1 OUT

# one run: NAME DIR OVERRIDES...; a finished run (metrics.json) is kept
run() {
    local name=$1 dir="$OUT/$2"; shift 2
    [ -f "$dir/metrics.json" ] && return 0
    python train.py "$@" threads=1 trainer.enable_progress_bar=false hydra.run.dir="$dir" \
        > /dev/null 2>&1 || echo "FAILED: $name ($dir)" >&2
}
export -f run
parallel() { xargs -P "${RUNS_IN_PARALLEL:-2}" -L 1 bash -c 'run "$@"' _; }

text_jobs() {
    for recipe in lstm_lm transformer_lm transformer_vae lstm_ae transformer_ae; do
        echo "$recipe text/wordnet10k/$recipe experiment=text/$recipe data.limit=10000"
        echo "$recipe text/bible/$recipe experiment=text/$recipe data.path=../shared/datasets/bible"
    done
    # a second seed on the Bible, where the recipes and their baselines are closest
    # (results/bible_screen: ae_seed1, lstm_ae_seed1, vae_seed1, lm_seed1, lstm_lm_seed1), and a
    # third and fourth of the LM and the VAE (results/bible_seeds)
    for recipe in transformer_ae lstm_ae transformer_vae transformer_lm lstm_lm; do
        echo "$recipe screen_bible/${recipe#transformer_}_seed1 experiment=text/$recipe data.path=../shared/datasets/bible seed=1"
    done
    for seed in 2 3; do
        for recipe in transformer_vae transformer_lm; do
            echo "$recipe screen_bible/${recipe#transformer_}_seed$seed experiment=text/$recipe data.path=../shared/datasets/bible seed=$seed"
        done
    done
}
text_full_jobs() {  # the Transformers at WordNet's full size (hours of CPU each)
    for recipe in transformer_lm transformer_ae transformer_vae; do
        echo "$recipe text/wordnet/$recipe experiment=text/$recipe"
    done
    # text_wordnet's passing Transformer rows again, with today's warmed-up average
    for recipe in transformer_lm_ema transformer_ae_gated_ema997_lr2e3_tmax6 \
                  transformer_vae_nowd_ema_gated_z16; do
        echo "$recipe screen/history_${recipe}_warmup experiment=history/text_wordnet/$recipe callbacks.ema.warmup=true"
    done
}

image_jobs() {  # the second sizes first
    local fm="experiment=images/_base model=conv_ae model.latent_dim=32"  # conv_ae's defaults
    fmnist() {
        local size=$1 limit=""; [ "$size" = 8000 ] && limit="data.limit=8000"
        for recipe in conv_ae_ema resnet_ae_ema; do
            echo "$recipe images/fmnist_$size/$recipe experiment=images/$recipe $limit"
            # the control: the same recipe without the moving average
            echo "$recipe images/fmnist_$size/${recipe}_no_ema experiment=images/$recipe callbacks=default $limit"
        done
        echo "conv_ae images/fmnist_$size/conv_ae $fm $limit"
        for recipe in conv_vae conv_vqvae hvae; do
            echo "$recipe images/fmnist_$size/$recipe experiment=images/$recipe $limit"
        done
    }
    fmnist 8000
    local photos5="data.path=outputs/data/photos_5"
    for recipe in denoise25 upscale2_aug; do
        echo "$recipe images/photos5/$recipe experiment=restoration/$recipe $photos5"
    done
    # the baseline: conv_ae's defaults on the same corrupted photos, for the same 20 epochs
    local plain="experiment=restoration/_common model=conv_ae scheduler=none $photos5"
    echo "conv_ae images/photos5/conv_ae_denoise25 $plain corruption=gaussian corruption.sigma=0.098"
    echo "conv_ae images/photos5/conv_ae_upscale2 $plain corruption=downsample corruption.factor=2"
    fmnist full
}

tables() {  # experiments/robustness/study.yaml: the tables, from the run dirs
    python compare.py --study experiments/robustness --out-root "$OUT"
}

what=${1:-all}
if [ "$what" = all ] || [ "$what" = text ]; then
    text_jobs | parallel
    # On the Bible, where the VAE's bound and its LM's perplexity are closest, the bound with
    # 500 importance samples (He et al.'s) beside the recipe's 50: eval_metrics_iw500.json, the
    # iw500/test/ppl columns (about half an hour on one thread; WordNet's test split, at
    # 10,000 sentences several times the Bible's, is left at 50).
    run="$OUT/text/bible/transformer_vae"
    [ -f "$run/eval_metrics_iw500.json" ] || python eval.py run_dir="$run" iw_samples=500 > /dev/null
fi
if [ "$what" = all ] || [ "$what" = text_full ]; then text_full_jobs | parallel; fi
if [ "$what" = all ] || [ "$what" = images ]; then
    [ -d outputs/data/photos_5 ] || python experiments/restoration/photo_subset.py --photos 5 \
        --out outputs/data/photos_5
    image_jobs | parallel
fi
tables
