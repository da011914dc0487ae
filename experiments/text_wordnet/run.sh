#!/usr/bin/env bash
# Reproduces experiments/text_wordnet/README.md: LM, AEs, denoising AE and VAEs on the
# WordNet sentences, all with the same sizes, optimizer and epochs; then the VAEs' samples
# and interpolations. Run from the repository root:
#   bash experiments/text_wordnet/run.sh              # every run, one after another
#   bash experiments/text_wordnet/run.sh lm ae        # just these (we ran pairs side by side)
# DATA defaults to the offline copy beside the repo; threads=1 because two ran at once.
# EXTRA adds overrides to every run (later ones win), e.g. EXTRA="model.width=256".
# On a GPU, gpu.sh beside this runs them all side by side within a time budget.
set -euo pipefail
DATA=${DATA:-../shared/datasets/wordnet}
OUT=${OUT:-outputs/experiments/text_wordnet}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
common=(data=text data.path="$DATA" data.vocab_size=5000 model.width=128 model.embed_dim=128
        model.latent_dim=64 model.dropout=0.1 optimizer.lr=3e-3 trainer.gradient_clip_val=1.0
        trainer.max_epochs=4 seed=0 threads=1 trainer.enable_progress_bar=false ${EXTRA:-})
# 4 epochs of 2,550 steps; the annealing reaches beta=1 after 2,000 steps. (lm and ae first ran
# 2 epochs, then were resumed to 4 with ckpt_path=last, which gives the same result; see README.)
vae=(model=lstm_vae model.kl_schedule=linear model.anneal_steps=2000 model.iw_samples=50)
# The best AE's recipe: its code is read from the encoder's final states and max-pool, lies on
# the sphere, and feeds the decoder's output layer through a gated vote; the learning rate decays
# by a cosine. ae256 gives it a 256-d code, ae128 a 128-d one, ae64 the 64-d code every other
# run has.
best_ae=(model=lstm_ae model.pool=last_max model.skip_latent=true model.skip_gate=true
         model.code_norm=sphere scheduler=cosine)

run() {
  case "$1" in
    lm)         python train.py "${common[@]}" model=lstm_lm hydra.run.dir="$OUT/lm" ;;
    ae)         python train.py "${common[@]}" model=lstm_ae hydra.run.dir="$OUT/ae" ;;
    # AE_EXTRA adds to these two, e.g. AE_EXTRA="model.skip_gate=false" for the ungated skip.
    ae256)      python train.py "${common[@]}" "${best_ae[@]}" model.latent_dim=256 ${AE_EXTRA:-} \
                  hydra.run.dir="$OUT/ae256" ;;
    ae64)       python train.py "${common[@]}" "${best_ae[@]}" ${AE_EXTRA:-} hydra.run.dir="$OUT/ae64" ;;
    # ae128 and vae_fn128 are the pair with one code size for both: 128-d, and the AE without
    # dropout (at 64-d that gave +0.017 BLEU).
    ae128)      python train.py "${common[@]}" "${best_ae[@]}" model.latent_dim=128 model.dropout=0.0 \
                  ${AE_EXTRA:-} hydra.run.dir="$OUT/ae128" ;;
    dae)        python train.py "${common[@]}" model=lstm_ae model.noise.drop=0.1 model.noise.blank=0.1 hydra.run.dir="$OUT/dae" ;;
    # Bowman et al. (2016): annealing + word dropout 0.3. And annealing + lighter word dropout
    # + free bits (Kingma et al., 2016): 0.05 nats per dimension, 3.2 nats over 64 dimensions.
    vae)        python train.py "${common[@]}" "${vae[@]}" model.word_dropout=0.3 hydra.run.dir="$OUT/vae" ;;
    vae_fb)     python train.py "${common[@]}" "${vae[@]}" model.word_dropout=0.1 model.free_bits=0.05 hydra.run.dir="$OUT/vae_fb" ;;
    # The same with ae256's code size, encoder (final states + max-pool) and skip (off by
    # default for lstm_vae), and the same 3.2 nats of free bits over 256 dims.
    vae_fb256)  python train.py "${common[@]}" "${vae[@]}" model.pool=last_max model.latent_dim=256 \
                  model.skip_latent=true model.word_dropout=0.1 model.free_bits=0.0125 \
                  hydra.run.dir="$OUT/vae_fb256" ;;
    # The same code without the skip, its 3.2 nats floored in total ("free nats"), not per
    # dimension, so the encoder can put them in a few dimensions. VAE_EXTRA adds to it.
    vae_fn256)  python train.py "${common[@]}" "${vae[@]}" model.pool=last_max model.latent_dim=256 \
                  model.word_dropout=0.1 model.free_nats=3.2 ${VAE_EXTRA:-} hydra.run.dir="$OUT/vae_fn256" ;;
    # The same at 128-d (the code size of ae128), with the floor at 2.2 nats.
    vae_fn128)  python train.py "${common[@]}" "${vae[@]}" model.pool=last_max model.latent_dim=128 \
                  model.word_dropout=0.1 model.free_nats=2.2 ${VAE_EXTRA:-} hydra.run.dir="$OUT/vae_fn128" ;;
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
      for p in "${pids[@]}"; do wait "$p"; done ;;
    *) echo "unknown run $1 (lm ae ae64 ae128 ae256 dae vae vae_fb vae_fb256 vae_fn256 vae_fn128 generate)" >&2; exit 2 ;;
  esac
}
for name in "${@:-lm ae128 vae_fn128 ae dae vae_fb vae generate}"; do
  for one in $name; do run "$one"; done
done
