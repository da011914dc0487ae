#!/usr/bin/env bash
# CPU recipes on a GPU, side by side, at their own step budget: a screen of what might close a
# gap at the CPU budget before 20-odd CPU minutes are spent on each candidate. A recipe stops
# at its own trainer.max_steps (or max_epochs), so the run on the GPU makes the same number of
# updates as on the CPU, in fp32: same result up to float order. The first run of each kind is the
# CPU recipe as it is, to calibrate (its CPU figure is in the README); the rest change one thing.
# Run from the repository root:
#   bash experiments/text_wordnet/gpu_screen.sh
# Environment: DATA (the WordNet folder), OUT (run dirs), MAX_TIME (trainer.max_time of each
# run, D:HH:MM:SS: a run cut by it is tested where it stopped; compare metrics.json's
# global_step), THREADS (CPU threads per run), SCREEN (the runs: name=recipe[,override...]),
# ACCELERATOR (gpu; cpu to try the script out on a few sentences).
set -uo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
DATA=${DATA:-../shared/datasets/wordnet}
OUT=${OUT:-outputs/experiments/text_wordnet_gpu_screen}
MAX_TIME=${MAX_TIME:-00:00:05:00}
THREADS=${THREADS:-1}
ACCELERATOR=${ACCELERATOR:-gpu}
ae=text_wordnet/transformer_ae_gated_ema997_lr2e3    # BLEU 0.586 on the CPU
vae=text_wordnet/transformer_vae_nowd_ema_gated      # test PPL 54.29, KL 2.22 on the CPU
SCREEN=${SCREEN:-"
ae=$ae
ae_6ep=$ae,trainer.max_epochs=6
ae_memory=$ae,model.decoder.inject=memory
vae=$vae
vae_wd02=$vae,model.word_dropout=0.2
vae_floor3=$vae,model.kl_floor_nats=3.0
"}
mkdir -p "$OUT"
pids=()
for spec in $SCREEN; do
  name=${spec%%=*} rest=${spec#*=}
  IFS=, read -r -a parts <<< "$rest"
  python train.py experiment="${parts[0]}" "${parts[@]:1}" data.path="$DATA" \
    trainer.accelerator="$ACCELERATOR" threads="$THREADS" "++trainer.max_time=\"$MAX_TIME\"" \
    hydra.run.dir="$OUT/$name" > "$OUT/$name.log" 2>&1 & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || echo "a run failed (pid $p): see $OUT/*.log" >&2; done
python - "$OUT" $SCREEN <<'EOF'
import json, sys
out, specs = sys.argv[1], sys.argv[2:]
keys = ["global_step", "test/bleu", "test/rec_ppl", "test/ppl", "test/kl", "test/mi",
        "test/active_units", "time/mean_epoch_s"]
print(f"{'run':<12}" + "".join(f"{k.split('/')[-1]:>13}" for k in keys))
for spec in specs:
    name = spec.split("=", 1)[0]
    try:
        m = json.load(open(f"{out}/{name}/metrics.json"))
    except OSError:
        m = {}
    print(f"{name:<12}" + "".join(f"{m[k]:>13.5g}" if m.get(k) is not None else f"{'-':>13}"
                                  for k in keys))
EOF
