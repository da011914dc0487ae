"""No absolute step or epoch count where a fraction of the run serves (issue 35).

A schedule pinned in steps means something else on every corpus: a KL warm-up of 2,000 steps
is a fifth of one run and three runs of another, an EMA decay of 0.999 (an average over 1,000
steps) leaves half of a 648-step run's average at its first weights. So every option in a yaml
under conf/ (recipes included, read as written, not composed) that counts optimizer steps or
epochs, or is a decay per step, must be relative: null, a share of the run (`kl_anneal`,
`scheduler.warmup`, `callbacks.ema.span` have no step in their names) or an interpolation of
the run's plan (`T_max: ${trainer.max_epochs}`). What is not is on ALLOWED, with its reason:

- `plan`: the run's length itself, which every share is a share of;
- `scale-free`: a count whose meaning does not grow with the run (why, in the reason);
- `not training`: logging, checks and generation, which change no weight;
- `history`: a recipe that pins what its row ran with, so the row can be re-run; the yaml line
  says so in a `# history` comment, and such a recipe is not a recommendation;
- `torch default`: an optimizer group's default as torch's documentation gives it, for a user
  who names the group on the command line; no recipe runs with it.

A model's defaults are never history, nor an absolute plan.
"""

import fnmatch
import re

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF, ROOT

# Options that count steps or epochs, by their names, and decays per step.
COUNTS = re.compile(r"(^|_)(steps?|epochs?)(_|$)|^T_max$|^patience$|^check_every$"
                    r"|^min_resource$|^limit_\w+_batches$")
DECAYS = re.compile(r"^decay$")
# AdamW shrinks every weight by lr x weight_decay per step: a timescale of 1 / (lr x wd) steps,
# so a fixed weight_decay is a step count too (optimizer.weight_decay_span is its share of the
# run). 0 is no decay at any length.
WEIGHT_DECAYS = re.compile(r"^weight_decay$")

HISTORY_EMA = "history: a fixed EMA decay, as the row ran (today's callbacks=ema spans a share)"
# (file pattern, key as written in the file) -> why it may be absolute
ALLOWED = {
    ("conf/trainer/*.yaml", "max_epochs"): "plan: the run's length in passes over the data",
    ("conf/experiment/*/*.yaml", "trainer.max_epochs"):
        "plan: the recipe's length in passes over the data",
    ("conf/experiment/generation/latent_diffusion.yaml", "trainer.max_steps"):
        "plan: a diffusion prior's length in updates, as diffusion models are trained (DDPM, "
        "LDM): it learns the codes' distribution, which is no easier for fewer codes; in "
        "epochs a small data set got a fraction of the updates (experiments/generation)",
    ("conf/optimizer/adamw.yaml", "weight_decay"):
        "torch default: AdamW's 0.01, what `optimizer=adamw` means to a torch user; the text "
        "recipes set optimizer.weight_decay_span, a share of the run, which replaces it",
    ("conf/trainer/default.yaml", "log_every_n_steps"):
        "not training: how often scalars are written",
    ("conf/trainer/default.yaml", "check_val_every_n_epoch"):
        "scale-free: validation once an epoch, whatever the run's length",
    ("conf/trainer/debug.yaml", "log_every_n_steps"): "not training: trainer=debug's wiring check",
    ("conf/trainer/debug.yaml", "limit_*_batches"): "not training: trainer=debug's wiring check",
    ("conf/callbacks/default.yaml", "stop_on_nan.check_every"):
        "not training: how often the loss is read for a NaN",
    ("conf/callbacks/ema.yaml", "ema.start_step"):
        "scale-free: 0, the first update (the warm-up does what a later start did)",
    ("conf/callbacks/ema.yaml", "ema.every_n_steps"):
        "scale-free: 1; the span is turned into a decay per update, so the average spans the "
        "same share of the run at any frequency",
    ("conf/model/*vqvae.yaml", "net.decay"):
        "scale-free: the codebook's k-means step, which must follow the encoder's outputs as "
        "they move step by step; a share of a long run would lag them (van den Oord et al. "
        "2017 and Sonnet keep 0.99 at any length)",
    ("conf/scheduler/plateau.yaml", "patience"):
        "scale-free: validations without improvement before the rate halves, a tolerance for "
        "the metric's noise; the schedule follows the metric, not the plan",
    ("conf/hydra/sweeper/optuna.yaml", "pruner.n_warmup_steps"):
        "scale-free: 1, the first report (epoch) a pruner can compare",
    ("conf/hydra/sweeper/optuna.yaml", "pruner.min_resource"):
        "scale-free: 1, the first report (epoch) a pruner can compare",
    ("conf/generate.yaml", "steps"): "not training: points along an interpolation line",
    ("conf/model/latent_diffusion.yaml", "sample_steps"):
        "scale-free: the sampler's integration steps from noise to a code, whatever the run's length",
    # history/<study>/: every recipe flattened as its row ran (each pinned line says so)
    ("conf/experiment/history/*.yaml", "trainer.max_steps"):
        "history: the LSTM runs' CPU minutes as a budget of steps, as the Transformer rows ran",
    ("conf/experiment/history/*.yaml", "model.kl_anneal_steps"):
        "history: a VAE's KL warm-up in steps, as its row ran",
    ("conf/experiment/history/*.yaml", "scheduler.T_max"):
        "history: a per-epoch cosine set longer than the 4-epoch plan, as the rows ran",
    ("conf/experiment/*/*ema*.yaml", "callbacks.ema.decay"): HISTORY_EMA,
}


def steps_and_epochs():
    """(file, key, value) of every count of steps or epochs and every decay in conf/."""
    def walk(node, prefix=""):
        for key in node.keys():
            value = node._get_node(key)
            full = f"{prefix}{key}"
            if OmegaConf.is_dict(value):
                yield from walk(value, full + ".")
            elif not OmegaConf.is_list(value):
                yield full, value._value()

    for path in sorted(CONF.rglob("*.yaml")):
        file = str(path.relative_to(ROOT))
        for key, value in walk(OmegaConf.load(path)):
            leaf = key.rsplit(".", 1)[-1]
            if COUNTS.search(leaf) or (DECAYS.search(leaf) and not isinstance(value, str)) \
                    or (WEIGHT_DECAYS.search(leaf) and value != 0):
                yield file, key, value


def absolute(value) -> bool:
    """A number, or a swept list of numbers; not null, a boolean or ${...} of the plan."""
    if isinstance(value, str):
        return bool(re.fullmatch(r"[\d.,\s]+", value))
    return isinstance(value, int | float) and not isinstance(value, bool)


def allowed(file: str, key: str):
    return next(((pattern, name) for pattern, name in ALLOWED
                 if fnmatch.fnmatch(file, pattern) and fnmatch.fnmatch(key, name)), None)


def test_no_absolute_step_or_epoch_count_without_a_reason():
    found = [(f, k, v) for f, k, v in steps_and_epochs() if absolute(v)]
    assert found, "the scan found nothing: is conf/ where it was?"
    unexplained = [f"{f}: {k}: {v}" for f, k, v in found if allowed(f, k) is None]
    assert not unexplained, ("absolute counts of steps or epochs; make them a share of the run "
                             "or add them to ALLOWED with the reason: " + "; ".join(unexplained))
    used = {allowed(f, k) for f, k, _ in found}
    assert not set(ALLOWED) - used, f"stale ALLOWED entries: {sorted(set(ALLOWED) - used)}"


def test_each_reason_is_of_a_kind_and_history_says_so_where_it_is_pinned():
    for reason in ALLOWED.values():
        assert reason.split(":")[0] in ("plan", "scale-free", "not training", "history",
                                        "torch default"), reason
    for file, key, value in steps_and_epochs():
        entry = allowed(file, key)
        if not absolute(value) or entry is None or not ALLOWED[entry].startswith("history"):
            continue
        assert not file.startswith("conf/model/"), f"{file}: a model's default is never history"
        leaf = re.escape(key.rsplit(".", 1)[-1])
        line = next(ln for ln in (ROOT / file).read_text().splitlines()
                    if re.match(rf"\s*{leaf}:", ln))
        assert "# history" in line, f"{file}: {key}: say `# history` on the line that pins it"


def test_model_defaults_are_relative():
    for file, key, value in steps_and_epochs():
        if file.startswith("conf/model/") and absolute(value):
            assert ALLOWED[allowed(file, key)].startswith("scale-free"), (file, key)


@pytest.mark.parametrize("key,value,flagged", [
    ("model.kl_anneal_steps", 2000, True), ("trainer.max_steps", 18000, True),
    ("callbacks.ema.decay", 0.999, True), ("scheduler.T_max", 6, True),
    ("model.kl_anneal_steps", None, False), ("scheduler.T_max", "${trainer.max_epochs}", False),
    ("hydra.sweeper.params.trainer.max_steps", "100,200", True),
    ("scheduler.decay", "cosine", False), ("model.kl_anneal", 0.2, False),
    ("optimizer.weight_decay", 0.3, True), ("optimizer.weight_decay", 0.0, False),
    ("optimizer.weight_decay_span", 0.3, False),
])
def test_the_scan_tells_a_count_from_a_share(key, value, flagged, monkeypatch, tmp_path):
    """A recipe that pins a count without a reason is caught; a share or null is not."""
    import tests.test_relative_steps as me

    recipe = tmp_path / "conf" / "experiment" / "new" / "recipe.yaml"
    recipe.parent.mkdir(parents=True)
    *parents, leaf = key.split(".")
    text = f"{leaf}: {'null' if value is None else repr(value) if isinstance(value, str) else value}"
    for parent in reversed(parents):
        text = f"{parent}:\n" + "\n".join("  " + line for line in text.splitlines())
    recipe.write_text(text + "\n")
    monkeypatch.setattr(me, "CONF", tmp_path / "conf")
    monkeypatch.setattr(me, "ROOT", tmp_path)
    found = [(f, k) for f, k, v in me.steps_and_epochs() if absolute(v) and allowed(f, k) is None]
    assert bool(found) == flagged
