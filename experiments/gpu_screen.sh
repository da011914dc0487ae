#!/usr/bin/env bash
# CPU recipes on a GPU, side by side, as they are: a screen of what might close a gap at the
# CPU budget before 20-odd CPU minutes are spent on each candidate. A recipe stops at its own
# trainer.max_steps or max_epochs, so on the GPU it makes the same updates as on the CPU, in
# fp32: the same run up to float order. The first run of each group is a recipe as it is, to
# calibrate against its CPU figure in the README; the others change one thing. Run from the
# repository root (each recipe reads its own data path, ../shared/datasets/...):
#   bash experiments/gpu_screen.sh
# Environment: OUT (run dirs), MAX_TIME (trainer.max_time of each run, D:HH:MM:SS: a run cut by
# it is tested where it stopped; compare metrics.json's global_step), THREADS (CPU threads per
# run), ACCELERATOR (gpu; cpu to try the script out), SCREEN (the runs, blank-separated:
# name=recipe[,override...]).
set -uo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
OUT=${OUT:-outputs/experiments/gpu_screen}
MAX_TIME=${MAX_TIME:-00:00:05:00}
THREADS=${THREADS:-1}
ACCELERATOR=${ACCELERATOR:-gpu}
ae=history/text_wordnet/transformer_ae_gated_ema997_lr2e3_tmax6
vae=history/text_wordnet/transformer_vae_nowd_ema_gated_z16
x4=history/restoration/upscale4_lowres
# gradient clipping at 0.1: 4x the median norm of upscale4_lowres (0.025; 1.0 would never act)
wide=history/restoration/upscale4_lowres_wide,model.net.res_scale=1.0
SCREEN=${SCREEN:-"
ae=$ae
ae_memory=$ae,model.decoder.inject=memory
vae=$vae
vae_z8=$vae,model.latent_dim=8
vae_floor3=$vae,model.kl_floor_nats=3.0
x4=$x4
x4_psnr_clip=$x4,model.loss=psnr,trainer.gradient_clip_val=0.1
x4_wide_lr5e4=$wide,optimizer.lr=5e-4
x4_wide_clip=$wide,trainer.gradient_clip_val=0.1
"}
mkdir -p "$OUT"
pids=()
for spec in $SCREEN; do
  name=${spec%%=*} rest=${spec#*=}
  IFS=, read -r -a parts <<< "$rest"
  python train.py experiment="${parts[0]}" "${parts[@]:1}" trainer.accelerator="$ACCELERATOR" \
    threads="$THREADS" "++trainer.max_time=\"$MAX_TIME\"" hydra.run.dir="$OUT/$name" \
    > "$OUT/$name.log" 2>&1 & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || echo "a run failed (pid $p): see $OUT/*.log" >&2; done
# the runs side by side: what differs in their configs, and the screened metrics
metrics=(global_step test/bleu test/rec_ppl test/ppl test/kl test/active_units test/psnr_y
         test/psnr_bicubic_y time/mean_epoch_s)
python compare.py "$OUT" "${metrics[@]/#/--metric=}" --out "$OUT/compare"
