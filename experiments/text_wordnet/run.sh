#!/usr/bin/env bash
# Reproduces experiments/text_wordnet/README.md: LM, AEs, denoising AE and VAEs on the
# WordNet sentences, all with the same sizes, optimizer and epochs; then the VAEs' samples
# and interpolations. Run from the repository root:
#   bash experiments/text_wordnet/run.sh              # every run, one after another
#   bash experiments/text_wordnet/run.sh lm ae        # just these (we ran pairs side by side)
# On a GPU, gpu.sh beside this runs them all side by side within a time budget.
set -euo pipefail
OUT=${OUT:-outputs/experiments/text_wordnet}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
# Every run is a recipe in conf/experiment/history/text_wordnet/<name>.yaml (sizes, optimizer, epochs,
# the objective's settings, and where each came from); this script only names them and where
# they write. DATA (the WordNet folder; default: the recipes' ../shared/datasets/wordnet) and
# EXTRA add overrides to every run (later ones win), e.g. EXTRA="model.width=256".
data=(${DATA:+data.path=$DATA})

run() {
  case "$1" in
    lm|lm_ema|ae|ae64|ae128|ae256|dae|vae|vae_fb|vae_fb256|vae_fn256|vae_fn128|gru_vae_fn128|transformer_*)
      python train.py experiment=history/text_wordnet/"$1" "${data[@]}" ${EXTRA:-} hydra.run.dir="$OUT/$1" ;;
    seed1)  # the VAE that beats its LM, and that LM, again with seed 1
      for r in transformer_vae_nowd_ema_gated_mix_z16 transformer_lm_nodrop_ema; do
        python train.py experiment=history/text_wordnet/$r seed=1 "${data[@]}" ${EXTRA:-} hydra.run.dir="$OUT/${r}_seed1"
      done ;;
    generate)  # into GEN (default experiments/text_wordnet/generated/), the files the README quotes
      G=${GEN:-experiments/text_wordnet/generated}; mkdir -p "$G"
      gen() {
        if [ ! -d "$OUT/$1" ]; then echo "skipped $3: there is no run $OUT/$1"; return 0; fi
        python generate.py run_dir="$OUT/$1" task="$2" "${@:4}" > "$G/$3.log" 2>&1 \
          && cp "$OUT/$1/generated/$2.txt" "$G/$3.txt" && rm "$G/$3.log"
      }
      # Side by side, since each is mostly start-up; but one after another where two write the
      # same <run>/generated/<task>.txt. A failure leaves its log in $G and fails the script.
      pids=()
      gen lm sample lm_sample_top_p num_images=10 decoding=sample top_p=0.9 & pids+=($!)
      { gen vae_fb sample vae_sample_greedy num_images=10 &&
        gen vae_fb sample vae_sample_top_p num_images=20 decoding=sample top_p=0.9; } & pids+=($!)
      { gen vae_fb interpolate vae_interpolate num_images=24 steps=6 &&
        gen vae_fb interpolate vae_interpolate_beam num_images=24 steps=6 decoding=beam; } & pids+=($!)
      gen vae_fb reconstruct vae_reconstruct num_images=20 & pids+=($!)
      gen ae reconstruct ae_reconstruct num_images=20 & pids+=($!)
      gen ae256 reconstruct ae256_reconstruct num_images=20 & pids+=($!)
      gen dae reconstruct dae_reconstruct num_images=20 & pids+=($!)
      gen ae128 reconstruct ae128_reconstruct num_images=20 & pids+=($!)
      { gen vae_fn128 sample vae_fn128_sample_greedy num_images=10 &&
        gen vae_fn128 sample vae_fn128_sample_top_p num_images=20 decoding=sample top_p=0.9; } & pids+=($!)
      gen vae_fn128 interpolate vae_fn128_interpolate num_images=24 steps=6 & pids+=($!)
      for p in "${pids[@]}"; do wait "$p"; done
      pids=()  # the Transformer runs (the first round's recipes end in _v1)
      for r in transformer_lm_v1 transformer_lm transformer_lm_ema; do
        gen $r sample ${r}_sample_top_p num_images=10 decoding=sample top_p=0.9 & pids+=($!)
      done
      for r in transformer_ae_v1 transformer_ae_gated transformer_ae transformer_ae_gated_ema998 \
               transformer_ae_gated_ema997_lr2e3_tmax6; do
        gen $r reconstruct ${r}_reconstruct num_images=20 & pids+=($!)
      done
      { gen transformer_vae_v1 sample transformer_vae_v1_sample_greedy num_images=10 &&
        gen transformer_vae_v1 interpolate transformer_vae_v1_interpolate num_images=24 steps=6; } & pids+=($!)
      r=transformer_vae  # the round-2 recipe gpu.sh runs
      { gen $r sample ${r}_sample_top_p num_images=20 decoding=sample top_p=0.9 &&
        gen $r interpolate ${r}_interpolate num_images=24 steps=6; } & pids+=($!)
      r=transformer_vae_fn
      { gen $r sample ${r}_sample_greedy num_images=10 &&
        gen $r sample ${r}_sample_top_p num_images=20 decoding=sample top_p=0.9; } & pids+=($!)
      { gen $r interpolate ${r}_interpolate num_images=24 steps=6 &&
        gen $r reconstruct ${r}_reconstruct num_images=20; } & pids+=($!)
      r=transformer_vae_nowd_ema_gated_mix_z16  # the VAE that beats its LM
      { gen $r sample ${r}_sample_greedy num_images=10 &&
        gen $r sample ${r}_sample_top_p num_images=20 decoding=sample top_p=0.9 &&
        gen $r reconstruct ${r}_reconstruct num_images=20 &&
        gen $r interpolate ${r}_interpolate num_images=24 steps=6; } & pids+=($!)
      for p in "${pids[@]}"; do wait "$p"; done ;;
    *) echo "unknown run $1 (lm lm_ema ae ae64 ae128 ae256 dae vae vae_fb vae_fb256 vae_fn256 vae_fn128" \
            "gru_vae_fn128 transformer_<recipe> seed1 generate)" >&2; exit 2 ;;
  esac
}
for name in "${@:-lm ae128 vae_fn128 ae dae vae_fb vae generate}"; do
  for one in $name; do run "$one"; done
done
