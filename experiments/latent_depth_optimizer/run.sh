#!/usr/bin/env bash
# Reproduces experiments/latent_depth_optimizer/README.md. Run from the repository root.
#   bash experiments/latent_depth_optimizer/run.sh image   # the 12-job Fashion-MNIST grid
#   bash experiments/latent_depth_optimizer/run.sh text    # lstm_vae latent x optimizer on WordNet
#   bash experiments/latent_depth_optimizer/run.sh seeds   # the image grid with 3 seeds per cell
#   bash experiments/latent_depth_optimizer/run.sh optuna  # one Optuna study, two workers, pruning
# Both run 2 jobs at a time with the joblib launcher (one CPU thread each on a 2-core machine).
# What each job trains is a recipe, conf/experiment/history/latent_depth_optimizer/{image,text}.yaml;
# the grids are the sweep presets in conf/sweep/ (or, for text, two values on the line). The
# tables are study.yaml's, each into the folder of its name here.
set -euo pipefail
OUT=${OUT:-outputs/experiments/latent_depth_optimizer}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

image() {
  # 3 latent sizes x 2 depths x 2 optimizers (the preset's grid); 20k training images, 2 epochs.
  python train.py -m experiment=history/latent_depth_optimizer/image sweep=latent_depth_optimizer \
    hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir="$OUT/image"
  python compare.py --study experiments/latent_depth_optimizer --out-root "$OUT" --table image
}

text() {
  # The text-model sizes of experiments/text_wordnet, on 20k WordNet sentences for 1 epoch.
  python train.py -m experiment=history/latent_depth_optimizer/text model.latent_dim=16,64 \
    optimizer=adam,sgd hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir="$OUT/text"
  python compare.py --study experiments/latent_depth_optimizer --out-root "$OUT" --table text
}

seeds() {
  # The image grid again with 3 seeds per cell (36 jobs): which single-seed findings survive.
  python train.py -m experiment=history/latent_depth_optimizer/image sweep=latent_depth_optimizer \
    seed=0,1,2 hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir="$OUT/image_seeds"
  python compare.py --study experiments/latent_depth_optimizer --out-root "$OUT" --table image_seeds
}

optuna() {
  # One Optuna study (latent size, width, learning rate; TPE) run by two workers at once into
  # one SQLite file, with median pruning; each worker its own sampler seed, or both would
  # propose the same first trials. The same budget per trial as the grid, 3 epochs.
  local storage="sqlite:///$(pwd)/$OUT/optuna/study.db"
  for worker in 1 2; do
    python train.py -m sweep=optuna_latent_lr hydra.sweeper.storage="$storage" \
      hydra.sweeper.n_trials=6 hydra.sweeper.sampler.seed=$worker hydra.sweeper.pruner.name=median \
      hydra.sweeper.pruner.n_startup_trials=3 hydra.sweeper.pruner.n_warmup_steps=1 \
      experiment=history/latent_depth_optimizer/image trainer.max_epochs=3 threads=1 \
      hydra.sweep.dir="$OUT/optuna" > "$OUT/optuna_worker$worker.log" 2>&1 &
  done
  wait
  python experiments/latent_depth_optimizer/optuna_summary.py --storage "$storage"
  python compare.py --study experiments/latent_depth_optimizer --out-root "$OUT" \
    --table optuna --table trials
}

for part in "${@:-image text}"; do
  for one in $part; do "$one"; done
done
