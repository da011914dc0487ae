"""Compose every recipe with the conf/ of before the model-layer redesign and with today's,
map the old option names to the new ones, and print each difference.

    git worktree add /tmp/before b5274e0
    python experiments/model_layer_redesign/compare_recipes.py /tmp/before/conf conf

Recipes added since are skipped. `_target_` and `_partial_` keys are structure, not settings,
and are left out; so is `model.kl_anneal` where `model.kl_anneal_steps` is set (unused then).
"""

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

GROUPS = ("model", "data", "optimizer", "scheduler", "trainer", "corruption", "seed", "threads")
RENAMED = {"model.anneal_steps": "model.kl_anneal_steps", "model.anneal_ratio": "model.kl_cycle_ratio",
           "model.pool": "model.encoder.pool", "model.bidirectional": "model.encoder.bidirectional",
           "model.tie_embeddings": "model.decoder.tie_embeddings",
           "model.channels_last": "model.net.channels_last"}
FOLDED = ("model.skip_latent", "model.skip_gate", "model.free_bits", "model.free_nats", "model.cell")


def flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def composed(conf: str, recipe: str) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = OmegaConf.to_container(compose("train", overrides=[f"experiment={recipe}"]))
    return flat({k: cfg[k] for k in GROUPS if k in cfg})


def today_names(old: dict) -> dict:
    """The old flat options in today's names."""
    new = {RENAMED.get(k, k): v for k, v in old.items()
           if k not in FOLDED and not k.startswith("model.noise.")}
    lm = old["model._target_"].endswith("LanguageModel")
    if "model.cell" in old:
        new["model.decoder.cell"] = old["model.cell"]
        if not lm:
            new["model.encoder.cell"] = old["model.cell"]
    if "model.skip_latent" in old and not lm:
        new["model.decoder.skip"] = ("gated" if old["model.skip_gate"] else "add") \
            if old["model.skip_latent"] else "none"
    if "model.free_bits" in old:
        bits, nats = old["model.free_bits"], old["model.free_nats"]
        new["model.kl_floor"] = "per_dim" if bits else "total" if nats else "none"
        new["model.kl_floor_nats"] = bits or nats or 0.0
    noise = {k.rsplit(".", 1)[1]: v for k, v in old.items() if k.startswith("model.noise.")}
    if any(noise.values()):
        new.update({f"corruption.{k}": v for k, v in noise.items()})
    return new


def differences(old: dict, new: dict) -> list[tuple]:
    def setting(key: str) -> bool:
        unused = key == "model.kl_anneal" and new.get("model.kl_anneal_steps") is not None
        return not key.endswith(("_target_", "_partial_")) and not unused

    absent = "<absent>"
    return [(k, old.get(k, absent), new.get(k, absent)) for k in sorted(set(old) | set(new))
            if setting(k) and str(old.get(k, absent)) != str(new.get(k, absent))]


def main(old_conf: str, new_conf: str) -> None:
    old_conf, new_conf = (str(Path(p).resolve()) for p in (old_conf, new_conf))
    root = Path(new_conf) / "experiment"
    recipes = sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml")
                     if not p.name.startswith("_")
                     and (Path(old_conf) / "experiment" / p.relative_to(root)).exists())
    for recipe in recipes:
        found = differences(today_names(composed(old_conf, recipe)), composed(new_conf, recipe))
        print(f"{recipe}: {'the same' if not found else ''}")
        for key, old, new in found:
            print(f"    {key}: {old} -> {new}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
