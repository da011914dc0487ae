#!/usr/bin/env bash
# Reproduces experiments/generation: every sampler the repo has, on Fashion-MNIST (images),
# scored in the features of a classifier trained here. Run from the repository root; one CPU
# thread per run. Each step is skipped when its run dir already has its results.
set -euo pipefail
OUT=${OUT:-outputs/experiments/generation}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=1
I=$OUT/images
train() {  # train DIR OVERRIDES...: one run, unless it is there
    local dir=$1; shift
    [ -f "$dir/metrics.json" ] || python train.py "$@" threads=1 \
        trainer.enable_progress_bar=false hydra.run.dir="$dir"
}

# The feature extractor first: the runs after it score their samples in their test stage.
train "$I/classifier" experiment=generation/classifier
FID="metrics.features.run=$I/classifier metrics.features.name=fmnist_cnn"

# A 32-float conv_ae at its defaults; its test stage samples from a Gaussian mixture fitted
# to its training codes (the ex-post density estimate, Ghosh et al., 2020).
train "$I/conv_ae" experiment=images/_base model=conv_ae $FID
# Latent diffusion over its codes (flow matching, the MLP denoiser, Heun's sampler).
train "$I/conv_ae_ld" experiment=generation/latent_diffusion model.ae_run="$I/conv_ae" $FID
# ... and its second seed (the prior's; the same autoencoder), in the screen's table.
train "$I/screen/conv_ae_ld_seed1" experiment=generation/latent_diffusion model.ae_run="$I/conv_ae" \
    seed=1 $FID
# The same, conditioned on the class and guided (w = 2): its test stage also scores the share
# of guided samples the classifier puts in their class.
train "$I/conv_ae_ld_cond" experiment=generation/latent_diffusion_cond model.ae_run="$I/conv_ae" $FID
# A second data size: 8,000 Fashion-MNIST images per split (data.limit, the test split too),
# conv_ae's defaults and latent diffusion over its codes, each scored as above (the mixture's
# samples by eval.py, eval_metrics.json).
I8=$OUT/images_8000
train "$I8/conv_ae" experiment=images/_base model=conv_ae model.latent_dim=32 data.limit=8000
[ -f "$I8/conv_ae/eval_metrics.json" ] || python eval.py run_dir="$I8/conv_ae" $FID
train "$I8/conv_ae_ld" experiment=generation/latent_diffusion model.ae_run="$I8/conv_ae" \
    data.limit=8000 $FID

# The recommended conv_vae: its prior's samples at the temperature 1 (its test stage), 0.85
# and 0.7 (eval.py prior_temperature: eval_metrics_t<T>.json).
temperatures() {  # temperatures RUN: its prior's samples scored at T = 0.85 and 0.7
    for t in 0.85 0.7; do
        [ -f "$1/eval_metrics_t$t.json" ] || python eval.py run_dir="$1" $FID prior_temperature=$t
    done
}
train "$I/conv_vae" experiment=images/conv_vae $FID
temperatures "$I/conv_vae"
# Latent diffusion over the VAE's posterior means, as over the plain AE's codes.
train "$I/conv_vae_ld" experiment=generation/latent_diffusion model.ae_run="$I/conv_vae" $FID

# The recommended hvae: its prior's samples at the temperature 1, 0.85 and 0.7 (every group's
# prior scaled alike), as conv_vae's.
train "$I/hvae" experiment=images/hvae $FID
temperatures "$I/hvae"
# The recommended conv_vqvae (its test stage scores its reconstructions only), the code prior
# (a Transformer over its 7x7 grid of code indices) and latent diffusion over its
# pre-quantisation grid (the U-Net denoiser, picked for a code map).
train "$I/conv_vqvae" experiment=images/conv_vqvae $FID
train "$I/conv_vqvae_prior" experiment=images/_base model=code_prior model.vqvae_run="$I/conv_vqvae" $FID
train "$I/conv_vqvae_ld" experiment=generation/latent_diffusion model.ae_run="$I/conv_vqvae" $FID

# The grids: 64 samples of the mixture, of latent diffusion over conv_ae's and conv_vqvae's codes
# and of the code prior, 60 guided ones of the conditional prior (6 per class, in class order).
HERE=experiments/generation
grid() {  # grid RUN PNG OPTIONS...: generated/sample.png, unless it is there, copied here as PNG
    local run=$1 png=$2; shift 2
    [ -f "$run/generated/sample.png" ] || python generate.py run_dir="$run" task=sample "$@"
    cp "$run/generated/sample.png" "$HERE/$png"
}
grid "$I/conv_ae" conv_ae_gmm_sample.png num_images=64
grid "$I/conv_ae_ld" conv_ae_ld_sample.png num_images=64
grid "$I/conv_ae_ld_cond" conv_ae_ld_cond_sample.png num_images=60 classes=all
grid "$I/conv_vqvae_prior" conv_vqvae_prior_sample.png num_images=64
grid "$I/conv_vqvae_ld" conv_vqvae_ld_sample.png num_images=64

# Text, on 10,000 WordNet sentences (data.limit; the full corpus takes hours per Transformer
# on this CPU): the recommended Transformer AE, VAE and LM, the LSTM LM whose hidden states
# are the Fréchet distance's features (a model none of the samplers is), and latent diffusion
# over the AE's codes.
T=$OUT/text
for recipe in transformer_ae transformer_vae transformer_lm lstm_lm; do
    train "$T/$recipe" experiment=text/$recipe data.limit=10000
done
# The LSTM VAE at its model defaults (it has no recipe of its own), as the text recipes' base.
train "$T/lstm_vae" experiment=text/_base model=lstm_vae data.limit=10000
train "$T/transformer_ae_ld" experiment=generation/text_latent_diffusion \
    model.ae_run="$T/transformer_ae" data.limit=10000
# 1,000 sentences from each sampler, measured against as many test sentences
# (generated/sample_metrics.json): the Fréchet distance in lstm_lm's features, perplexity
# under transformer_lm, distinct-1/2 and self-BLEU. The LM's own samples are ancestral.
MEASURE="num_images=1000 text_metrics.features.run=$T/lstm_lm text_metrics.features.name=lstm_lm
         text_metrics.lm.run=$T/transformer_lm text_metrics.lm.name=transformer_lm"
sample() {
    local run=$1; shift
    [ -f "$run/generated/sample_metrics.json" ] || python generate.py run_dir="$run" task=sample \
        $MEASURE "$@"
}
sample "$T/transformer_ae_ld"
sample "$T/transformer_vae"
sample "$T/lstm_vae"
sample "$T/transformer_lm" decoding=sample
# The codes decoded by nucleus sampling instead of greedily (generate.py tag= keeps each draw's
# files apart: generated/sample_nucleus05_metrics.json, ...): the screen of p on the latent
# diffusion's samples, and p = 0.5 for the VAE's too.
tagged() {  # tagged RUN P: a draw decoded with top_p=0.P, unless it is there
    [ -f "$1/generated/sample_nucleus$2_metrics.json" ] || python generate.py run_dir="$1" \
        task=sample $MEASURE decoding=sample top_p="0.${2#0}" tag="nucleus$2"
}
for p in 05 06 07 09; do tagged "$T/transformer_ae_ld" $p; done
tagged "$T/transformer_vae" 05
tagged "$T/lstm_vae" 05

# A second text domain, the King James Bible's verses: the recipes' runs of
# experiments/robustness (trained here with its commands if they are not there), latent
# diffusion over its Transformer AE's codes, and the same measures in its LSTM LM's features
# and under its Transformer LM.
B=${ROBUSTNESS_OUT:-outputs/experiments/robustness}/text/bible
for recipe in transformer_ae transformer_vae transformer_lm lstm_lm; do
    train "$B/$recipe" experiment=text/$recipe data.path=../shared/datasets/bible
done
TB=$OUT/text_bible
train "$TB/transformer_ae_ld" experiment=generation/text_latent_diffusion \
    model.ae_run="$B/transformer_ae" data.path=../shared/datasets/bible
MEASURE="num_images=1000 text_metrics.features.run=$B/lstm_lm text_metrics.features.name=lstm_lm
         text_metrics.lm.run=$B/transformer_lm text_metrics.lm.name=transformer_lm"
sample "$TB/transformer_ae_ld"
sample "$B/transformer_vae"
sample "$B/transformer_lm" decoding=sample
tagged "$TB/transformer_ae_ld" 05
tagged "$B/transformer_vae" 05

python compare.py --study experiments/generation --out-root "$OUT"
