# Sourced by the study run.sh files (from the repository root): what their trainings share.
#
# train_recipe DIR RECIPE [OVERRIDES...]: one recipe (conf/experiment/RECIPE.yaml) into the run
# dir DIR, on one CPU thread (the studies run two side by side), quietly; DATA, if set, replaces
# the recipe's data.path. A finished run (DIR/metrics.json) is kept, so a study re-runs only
# what is missing. Exported, so that `xargs -P 2 ... bash -c 'train_recipe ...'` finds it.
train_recipe() {
    local dir=$1 recipe=$2
    shift 2
    [ -f "$dir/metrics.json" ] && return 0
    python train.py experiment="$recipe" ${DATA:+data.path=$DATA} "$@" threads=1 \
        hydra.run.dir="$dir" > /dev/null
}
export -f train_recipe
