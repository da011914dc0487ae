#!/usr/bin/env bash
# The runs of run.sh on one GPU, at sizes a CPU cannot afford, with the same number of epochs
# for all: as many as fit a time budget. Run from the repository root:
#   bash experiments/text_wordnet/gpu.sh
# Environment: DATA (the WordNet folder), OUT (run dirs), GEN (generated text), BUDGET_S
# (seconds from start to the last generated file), RESERVE_S (of those, kept for testing and
# generation), SIZES (overrides that every run gets).
#
# First a preflight: every run on 500 sentences for one epoch, tested, then every generation
# task, so that a problem on this device shows in a minute rather than after the long runs.
# The number of epochs: round 1 trains all runs side by side for one epoch, which times an
# epoch as they share the GPU (training + validation). Round 2 resumes them all
# (ckpt_path=last, which continues exactly: RNG state and data order are in the checkpoint)
# to E epochs, the most that fit in what is left. Should that estimate be off,
# trainer.max_time stops training in time (mid-epoch: compare metrics.json's global_step).
set -euo pipefail
here=$(dirname "$0")
export DATA=${DATA:-../shared/datasets/wordnet}
export OUT=${OUT:-outputs/experiments/text_wordnet_gpu}
export GEN=${GEN:-$OUT/generated}
BUDGET_S=${BUDGET_S:-540}
RESERVE_S=${RESERVE_S:-90}  # of BUDGET_S; testing + generation took 63 s on the H100
# ++trainer.max_steps=-1: the same epochs for every run (the CPU Transformer recipes stop at a
# step budget), and round 2's resume from an epoch end stays exact (README, "Resume").
SIZES=${SIZES:-"trainer.accelerator=gpu threads=2 data.batch_size=128 model.width=512 model.embed_dim=256 ++trainer.max_steps=-1"}
RUNS=${RUNS:-"lm ae dae vae_fb vae transformer_lm transformer_ae transformer_vae"}
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }

round() {  # round NAME DIR OVERRIDES...: every run at once, into DIR/<run>, logs DIR/<run>.NAME.log
  local name=$1 dir=$2 pids=() failed=0 r
  shift 2
  mkdir -p "$dir"
  for r in $RUNS; do
    OUT=$dir EXTRA="$SIZES $*" bash "$here/run.sh" "$r" > "$dir/$r.$name.log" 2>&1 & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  if (( failed )); then
    for r in $RUNS; do echo "== $r"; tail -n 15 "$dir/$r.$name.log"; done
    echo "round $name: a run failed (logs above and in $dir)" >&2
    return 1
  fi
}

round preflight "$OUT/preflight" data.limit=500 trainer.max_epochs=1
OUT=$OUT/preflight GEN=$OUT/preflight/generated bash "$here/run.sh" generate
echo "preflight passed at $(elapsed)s"
t0=$(elapsed)
round 1 "$OUT" trainer.max_epochs=1 test=false
t1=$(elapsed)
r1=$(( t1 - t0 ))
# One epoch as measured in round 1 (its wall time less the slowest start-up), the start-up a
# resumed run pays again, and the E that fits in what is left before the reserve.
read -r epoch_s startup_s epochs train_s < <(python - "$OUT" "$r1" "$t1" "$BUDGET_S" "$RESERVE_S" $RUNS <<'EOF'
import json, sys
out, (r1, t1, budget, reserve), runs = sys.argv[1], map(float, sys.argv[2:6]), sys.argv[6:]
startup = max(json.load(open(f"{out}/{r}/metrics.json"))["time/startup_s"] for r in runs)
epoch = r1 - startup
train = budget - reserve - t1 - startup  # seconds of training left for round 2
# at least 2: a resumed run that has reached max_epochs would not be run (or tested) again
print(round(epoch), round(startup), 1 + max(1, int(train // epoch)), max(1, int(train)))
EOF
)
echo "round 1 took ${r1}s: start-up ${startup_s}s, an epoch ${epoch_s}s -> $epochs epochs" \
     "(training stops after ${train_s}s at the latest)"
max_time=$(printf '00:00:%02d:%02d' $(( train_s / 60 )) $(( train_s % 60 )))
# From here on a failure of one run leaves the others' results standing.
round 2 "$OUT" trainer.max_epochs="$epochs" ckpt_path=last "++trainer.max_time=\"$max_time\"" || true
echo "round 2 ended at $(elapsed)s"
bash "$here/run.sh" generate || echo "generation failed: see the logs in $GEN" >&2
echo "generation ended at $(elapsed)s"

python - "$OUT" $RUNS <<'EOF'
import json, sys
out, runs = sys.argv[1], sys.argv[2:]
keys = ["epoch", "global_step", "test/nll", "test/ppl", "test/kl", "test/mi", "test/active_units",
        "test/rec_ppl", "test/bleu", "time/mean_epoch_s"]
print("run   " + "".join(f"{k.split('/')[-1]:>13}" for k in keys))
for r in runs:
    try:
        m = json.load(open(f"{out}/{r}/metrics.json"))
    except OSError:
        m = {}
    print(f"{r:<6}" + "".join(f"{m[k]:>13.5g}" if m.get(k) is not None else f"{'-':>13}"
                            for k in keys))
EOF
