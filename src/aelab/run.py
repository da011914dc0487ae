"""What the entry points do: train, evaluate, generate. The top-level scripts only parse."""

import contextlib
import json
import logging
import math
import re
from pathlib import Path

import lightning as L
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig, OmegaConf

from aelab.callbacks.safety import LastCheckpointEveryEpoch, ValidateAtMaxSteps
from aelab.checkpoint import AtomicCheckpointIO, load_checkpoint
from aelab.errors import AelabError
from aelab.files import (
    atomic_save_image,
    atomic_write_text,
    free_name,
    make_dirs,
    remove_stale_temporaries,
)
from aelab.logging_hparams import log_hparams
from aelab.options import check_metrics, check_options
from aelab.optuna_sweeper import PRUNED
from aelab.ownership import refuse_a_second_run, run_dir_lock, save_run_config
from aelab.resume import ApplyResumedChanges, check_resume, optimizer_and_scheduler_changes
from aelab.run_dir import (
    best_checkpoint,
    instantiate_checked,
    instantiate_model,
    load_run_config,
    load_weights,
)

log = logging.getLogger(__name__)
if logging.getLogger().handlers:
    # `import lightning` adds a console handler of its own even when the app (Hydra) has
    # configured logging, which would print every Lightning message twice.
    logging.getLogger("lightning").handlers.clear()


def plain_config(cfg: DictConfig) -> dict:
    """The resolved config as plain Python data (safe for `torch.load(weights_only=True)`)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


def check_config(cfg: DictConfig) -> None:
    """Mistakes that would otherwise surface deep inside instantiate(), named up front."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        example = " ".join(f"{key}=<value>" for key in missing)
        raise AelabError(f"required config values are not set: {', '.join(missing)}; "
                         f"give them on the command line: {example}")
    check_options(cfg)
    check_modalities(cfg)


def check_modalities(cfg: DictConfig) -> None:
    """A text model on image data, or an image corruption on text (or the reverse), fails
    here, before anything is loaded."""
    def kind(key: str) -> str | None:
        node = cfg.get(key)
        return getattr(get_class(node._target_), "modality", None) if node else None

    def a(kind: str) -> str:
        return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"

    data_kind, model_kind, corruption_kind = kind("data"), kind("model"), kind("corruption")
    if data_kind and model_kind and data_kind != model_kind:
        raise AelabError(f"model {cfg.model._target_.rsplit('.', 1)[-1]} is {a(model_kind)} model"
                         f" but data {cfg.data._target_.rsplit('.', 1)[-1]} is {data_kind} data;"
                         f" pick {a(model_kind)} dataset or {a(data_kind)} model")
    if model_kind and corruption_kind and corruption_kind != model_kind:
        fix = "corruption=word_noise" if model_kind == "text" else (
            "corruption=gaussian, salt_pepper, mask or downsample")
        raise AelabError(f"corruption {cfg.corruption._target_.rsplit('.', 1)[-1]} corrupts "
                         f"{corruption_kind} but the model is {a(model_kind)} model; use {fix} "
                         "or corruption=none")


def build_datamodule(cfg: DictConfig, saved_vocabulary: bool = False) -> L.LightningDataModule:
    """The data, set up. `saved_vocabulary`: a text run must find its tokenizer.json (a
    finished or resumed run), not train one on what the data is now."""
    datamodule = instantiate_checked(cfg.data)
    if saved_vocabulary and hasattr(datamodule, "require_saved_tokenizer"):
        datamodule.require_saved_tokenizer()
    model = get_class(cfg.model._target_) if cfg.get("model") else None
    # Labels only for a model that says it needs them (a bool, or a function of its config:
    # a conditional latent_diffusion): every other model's batches (and the cached images)
    # stay as they are.
    needs = getattr(model, "needs_labels", False)
    if callable(needs):
        needs = needs(cfg.model)
    if needs:
        if not hasattr(datamodule, "request_labels"):
            raise AelabError(f"model {model.__name__} needs class labels; data "
                             f"{type(datamodule).__name__} has none: use an image dataset")
        datamodule.request_labels()
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def build_model(cfg: DictConfig, datamodule: L.LightningDataModule) -> L.LightningModule:
    """The LightningModule, completed with what only the data knows (image shape, vocab,
    number of classes)."""
    return instantiate_model(cfg, **datamodule_facts(datamodule))


def datamodule_facts(datamodule: L.LightningDataModule) -> dict:
    if getattr(datamodule, "modality", None) == "image":
        classes = {"num_classes": datamodule.num_classes} if datamodule.labelled else {}
        return {"image_shape": datamodule.image_shape, **classes}
    if getattr(datamodule, "modality", None) == "text":
        return {"vocab_size": datamodule.vocab_size_actual}
    return {}


def refuse_sentences_beyond_positions(model: L.LightningModule, datamodule) -> None:
    """Learned positions cover `max_positions` tokens: a longer val/test sentence would
    stop the run in its validation or test, after the fit. Named before it trains."""
    from aelab.nets.text.transformer import TokenEmbedding

    limits = [m.max_positions for m in model.modules()
              if isinstance(m, TokenEmbedding) and m.position is not None]
    if not limits or not hasattr(datamodule, "longest"):
        return
    role, index, words = datamodule.longest()
    if words + 2 > min(limits):  # + <bos> and <eos>
        raise AelabError(f"sentence {index} of the {role} split has {words} words ({words + 2} "
                         f"tokens with <bos> and <eos>), more than the learned positions cover "
                         f"({min(limits)}); raise the model's max_positions (model.decoder."
                         "max_positions, and model.encoder.max_positions where it has an encoder), "
                         "use positions=rotary, or clean that line from the data")


class ConfigInCheckpoint(L.Callback):
    """Stores the resolved run config in every checkpoint, as plain data."""

    def __init__(self, config: dict):
        self.config = config

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["config"] = self.config


class FitMetricsInCheckpoint(L.Callback):
    """Stores the train / val metrics known at each save in the checkpoint.

    A run killed after its last checkpoint (at the end of its fit, or in its test stage)
    resumes with nothing left to train, so its fit produces no metrics of its own: the ones
    its metrics.json needs come from the checkpoint it resumed from (`fit_metrics`). Carried
    inside the checkpoint, they are saved in the same atomic write as the weights; a file
    beside it would leave a window between the two writes."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["fit_metrics"] = scalar_metrics(trainer.callback_metrics)


def feature_extractor(metrics: DictConfig | None):
    """The FID / KID features `metrics.features` names, or None (the default: nothing is
    built). Built first, so a missing weights file or classifier run stops a run before its
    data loads and its training starts, not after."""
    from aelab.metrics.features import build_features

    return build_features(metrics.get("features")) if metrics is not None else None


def generative_metrics(extractor, metrics: DictConfig, model: L.LightningModule,
                       datamodule: L.LightningDataModule, seed: int,
                       temperature: float = 1.0) -> list[L.Callback]:
    """The test stage's FID / KID / precision / recall callback for this model and data (none
    without features)."""
    from aelab.callbacks.fid import GenerativeMetrics

    if extractor is None:
        return []
    # A config saved before `neighbours` existed (a resumed run) has none: the paper's k = 3.
    return [GenerativeMetrics.for_model(extractor, model, datamodule, metrics.num_samples, seed,
                                        metrics.get("neighbours", 3), temperature)]


def build_trainer(cfg: DictConfig, extra_callbacks: list | None = None) -> L.Trainer:
    callbacks = [instantiate_checked(c) for c in (cfg.get("callbacks") or {}).values()
                 if c is not None and "_target_" in c]
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar callback then
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()
               if c is not None and "_target_" in c]
    # Not an option: without it a run ending at max_steps mid-epoch tests stale weights.
    callbacks.append(ValidateAtMaxSteps())
    # Nor this: last.ckpt is every epoch's end, whether or not the epoch improved.
    last = LastCheckpointEveryEpoch.takes_over(callbacks)
    if last is not None:
        callbacks.append(last)
    # Not an option either: checkpoints staged beside their file, whole after any kill.
    plugins = [] if cfg.trainer.get("plugins") else [AtomicCheckpointIO()]
    return instantiate(cfg.trainer, callbacks=callbacks + (extra_callbacks or []),
                       logger=loggers or False, **({"plugins": plugins} if plugins else {}))


def resume_checkpoint(cfg: DictConfig) -> tuple[str | None, dict | None]:
    """(path, contents) of the checkpoint a run resumes from, or (None, None).
    `ckpt_path=last` means this run dir's last.ckpt, when there is one."""
    ckpt = cfg.get("ckpt_path")
    if ckpt in (None, "last"):
        last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        if ckpt == "last" and last.exists():
            log.info("resuming from %s", last)
            return str(last), load_checkpoint(last)
        if ckpt == "last":
            log.warning("ckpt_path=last but %s does not exist: starting from scratch", last)
        return None, None
    if not Path(ckpt).exists():
        raise AelabError(f"ckpt_path={ckpt} does not exist; give a checkpoint file or 'last'")
    # Refuse unsafe or broken files here, with a clear message.
    return str(ckpt), load_checkpoint(ckpt)


def scalar_metrics(metrics: dict) -> dict:
    """Tensor metrics -> plain floats, keeping only scalars."""
    out = {}
    for key, value in metrics.items():
        value = value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value
        if isinstance(value, int | float):
            out[key] = float(value)
    return out


def write_metrics(path: Path, metrics: dict) -> None:
    """One flat JSON object; non-finite values are written as null (valid JSON)."""
    clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else None)
             for k, v in sorted(metrics.items())}
    atomic_write_text(path, json.dumps(clean, indent=2) + "\n")


def train(cfg: DictConfig) -> float | str | None:
    """Fit, test the best checkpoint, write metrics.json; return the best monitored value.

    The run dir is locked for the whole run, and nothing is written into it before the
    checks: a dir holding another run, or a resume that changes what its checkpoint fixes,
    stops with the dir as it was."""
    from aelab.callbacks.timing import run_started

    run_started()
    check_config(cfg)
    output_dir = Path(cfg.paths.output_dir)
    # Under DDP the other ranks re-run this script into the same dir: rank 0 owns it.
    with run_dir_lock(output_dir) if is_rank_zero() else contextlib.nullcontext():
        return train_in_own_dir(cfg, output_dir)


def is_rank_zero() -> bool:
    from lightning.pytorch.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def train_in_own_dir(cfg: DictConfig, output_dir: Path) -> float | str | None:
    ckpt_path, checkpoint = resume_checkpoint(cfg)
    config = plain_config(cfg)
    if is_rank_zero():
        refuse_a_second_run(output_dir, ckpt_path)
    changes = check_resume(checkpoint, config, ckpt_path) if checkpoint is not None else {}
    done = finished_metrics(cfg)
    if done is not None:
        log.info("%s already finished (metrics.json, epoch %s): not run again", output_dir,
                 done.get("epoch"))
        return done.get(f"best/{cfg.monitor.metric}")
    if is_rank_zero():
        remove_stale_temporaries(output_dir / "checkpoints")
        save_run_config(cfg, output_dir)
        (output_dir / "failure.txt").unlink(missing_ok=True)  # a retried job starts clean
    L.seed_everything(cfg.seed, workers=True)
    extractor = feature_extractor(cfg.get("metrics")) if cfg.get("test", True) else None
    # A resumed text run must read its own vocabulary, never one rebuilt from today's data.
    own_resume = ckpt_path is not None and Path(ckpt_path).parent == output_dir / "checkpoints"
    datamodule = build_datamodule(cfg, saved_vocabulary=own_resume)
    model = build_model(cfg, datamodule)
    refuse_sentences_beyond_positions(model, datamodule)
    extra = [ConfigInCheckpoint(config), FitMetricsInCheckpoint(),
             *generative_metrics(extractor, cfg.get("metrics"), model, datamodule, cfg.seed)]
    resumed = optimizer_and_scheduler_changes(changes)
    if resumed:
        extra.append(ApplyResumedChanges(resumed))
    pruning = None
    if cfg.get("optuna"):  # a trial of the Optuna sweeper: report each epoch, maybe stop
        from aelab.callbacks.optuna_pruning import OptunaPruning

        pruning = OptunaPruning(cfg.optuna, cfg.monitor.metric)
        extra.append(pruning)
    trainer = build_trainer(cfg, extra)

    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = fit_metrics(trainer, output_dir, checkpoint)
    if pruning is not None and pruning.pruned_at is not None:
        # Pruned: recorded as such (not a failure), not tested, and the sweeper told so.
        metrics.update(pruned=1.0, epoch=pruning.pruned_at, global_step=trainer.global_step)
        if trainer.is_global_zero:
            write_metrics(output_dir / "metrics.json", metrics)
        log.info("pruned by the Optuna study after epoch %d", pruning.pruned_at)
        return PRUNED
    if cfg.get("test", True):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        results = trainer.test(model, datamodule=datamodule, ckpt_path=best or None,
                               weights_only=True)
        metrics.update(scalar_metrics(results[0] if results else {}))
    best_score = monitored_value(trainer, cfg.monitor.metric, metrics)
    metrics.update(epoch=trainer.current_epoch, global_step=trainer.global_step)
    if best_score is not None:
        metrics[f"best/{cfg.monitor.metric}"] = best_score
    if trainer.is_global_zero:  # under DDP every process has the same (synced) metrics
        write_metrics(output_dir / "metrics.json", metrics)
        log_hparams(trainer, config, metrics, getattr(model, "modality", None))
        log.info("metrics written to %s", output_dir / "metrics.json")
    return best_score


def fit_metrics(trainer: L.Trainer, output_dir: Path, checkpoint: dict | None) -> dict:
    """The last epoch's train / val metrics. A resume that had nothing left to train (killed
    after its last checkpoint) takes them from the checkpoint it resumed from."""
    trained_nothing = checkpoint is not None and trainer.global_step == checkpoint.get("global_step")
    if trained_nothing and "fit_metrics" in checkpoint:
        return dict(checkpoint["fit_metrics"])
    legacy = output_dir / "fit_metrics.json"  # where aelab kept them before checkpoints did
    if trained_nothing and legacy.exists():
        return json.loads(legacy.read_text())
    return scalar_metrics(trainer.callback_metrics)


def finished_metrics(cfg: DictConfig) -> dict | None:
    """The metrics of this run dir when `ckpt_path=last` asks to resume a run that already
    reached trainer.max_epochs or trainer.max_steps (so a resumed sweep skips its finished
    jobs; a run given more epochs or steps than it had goes on)."""
    metrics_file = Path(cfg.paths.output_dir) / "metrics.json"
    if cfg.get("ckpt_path") != "last" or not metrics_file.exists():
        return None
    metrics = json.loads(metrics_file.read_text())
    max_epochs, max_steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps") or -1
    epochs_done = max_epochs is not None and metrics.get("epoch", -1) >= max_epochs
    steps_done = max_steps > 0 and metrics.get("global_step", -1) >= max_steps
    return metrics if epochs_done or steps_done else None


def monitored_value(trainer: L.Trainer, name: str, metrics: dict) -> float | None:
    """Best validation value of the monitored metric (what a sweeper optimises)."""
    callback = trainer.checkpoint_callback
    if callback is not None and callback.best_model_score is not None:
        return float(callback.best_model_score)
    return metrics.get(name)


def load_run(run_dir: str, ckpt: str = "best", trust_run_config: bool = False):
    """(config, datamodule, model with the checkpoint's weights, checkpoint dict) of a run."""
    run = Path(run_dir).expanduser()
    cfg = load_run_config(run, trust_run_config)
    best_checkpoint(run, ckpt)  # a run without the checkpoint stops before the data loads
    L.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg, saved_vocabulary=True)
    model = build_model(cfg, datamodule)
    return cfg, datamodule, model, load_weights(model, run, ckpt)


def evaluate(run_dir: str, ckpt: str = "best", accelerator: str | None = None,
             trust_run_config: bool = False, metrics: DictConfig | None = None,
             self_ensemble: bool = False, iw_samples: int | None = None,
             prior_temperature: float | None = None) -> dict:
    """Rebuild data and model from a run dir, test its checkpoint, write eval_metrics.json
    (eval_metrics_self_ensemble.json with `self_ensemble`, eval_metrics_iw<k>.json with
    `iw_samples`, eval_metrics_t<T>.json with `prior_temperature`).

    `metrics`: eval.py's own `metrics` node (FID / KID in the features it names), never the
    run's saved one: what eval measures is asked for on its command line. `self_ensemble`:
    an image autoencoder's output averaged over the flips and quarter turns of its input.
    `iw_samples`: a VAE's importance-weighted bound (test/nll, test/ppl, test/bpd) with this
    many samples instead of the run's own (a tighter bound for more compute; He et al., 2019,
    report 500). `prior_temperature`: the samples that FID, KID, precision and recall score
    drawn at this many times a Gaussian prior's spread (VAEs, hvae's every group, latent
    diffusion's noise)."""
    run = Path(run_dir).expanduser()
    if metrics is not None:
        check_metrics(metrics)  # train.py checks its own in check_config
    extractor = feature_extractor(metrics)
    cfg, datamodule, model, state = load_run(run_dir, ckpt, trust_run_config)
    if self_ensemble:
        if getattr(model, "self_ensemble", None) is None:  # None: not through `output`
            raise AelabError(f"self_ensemble=true averages an image autoencoder's output over "
                             f"turned inputs; this run is a {type(model).__name__}")
        model.self_ensemble = True
    if iw_samples is not None:
        if not hasattr(model, "iw_samples"):
            raise AelabError(f"iw_samples={iw_samples} sets a VAE's importance samples for "
                             f"test/nll; this run is a {type(model).__name__}, which has none")
        if iw_samples < 1:
            raise AelabError(f"iw_samples={iw_samples}: give at least 1 (null: the run's own)")
        model.iw_samples = iw_samples
    if prior_temperature is not None:
        check_prior_temperature(prior_temperature, model, extractor)
    callbacks = generative_metrics(extractor, metrics, model, datamodule, cfg.seed,
                                   1.0 if prior_temperature is None else prior_temperature)
    trainer = L.Trainer(accelerator=accelerator or cfg.trainer.accelerator, devices=1,
                        precision=cfg.trainer.precision, logger=False, callbacks=callbacks,
                        enable_checkpointing=False, enable_progress_bar=False)
    results = trainer.test(model, datamodule=datamodule, verbose=False)
    scores = scalar_metrics(results[0])
    scores.update(epoch=state.get("epoch", -1), global_step=state.get("global_step", -1))
    name = "eval_metrics" + ("_self_ensemble" if self_ensemble else "") + (
        f"_iw{iw_samples}" if iw_samples is not None else "") + (
        f"_t{prior_temperature:g}" if prior_temperature is not None else "")
    write_metrics(run / f"{name}.json", scores)
    return scores


def check_prior_temperature(temperature, model, extractor) -> None:
    """eval.py prior_temperature=T: a spread > 0 of a Gaussian prior whose samples are scored."""
    if not getattr(model, "gaussian_prior", False):
        raise AelabError(f"prior_temperature={temperature} scales a Gaussian prior's spread "
                         f"(VAEs, hvae, latent_diffusion); a {type(model).__name__} has none")
    if not isinstance(temperature, int | float) or temperature <= 0:
        raise AelabError(f"prior_temperature={temperature}: give a spread > 0 (1: the prior's own)")
    if extractor is None:
        raise AelabError(f"prior_temperature={temperature} sets the spread of the samples that "
                         "FID / KID score; give the features too: metrics.features.run=<a "
                         "model=classifier run>")


def pick_device(accelerator: str | None) -> torch.device:
    if accelerator in (None, "auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def generate(run_dir: str, task: str, ckpt: str = "best", accelerator: str | None = None,
             trust_run_config: bool = False, input: str | None = None, tag: str | None = None,
             **options) -> Path:
    """Run a generation task on a finished run; write generated/<task>.png (or .txt; an
    earlier output is kept: the new one becomes <task>-1.png, ...); return its path.
    task=sample on a text run also writes generated/sample_metrics.json (`text_metrics`:
    generate.yaml's node of that name; aelab.metrics.text_samples).

    `tag`: the output is named <task>_<tag> instead (sample_nucleus05.txt and
    sample_nucleus05_metrics.json), so that draws made with other settings are kept apart by
    name; compare.py reads their scores as `sample_<tag>/...`.

    `input`: an image file for denoise / upscale to restore (any size) instead of test
    images; the result goes to generated/<file name>_<task>[_x<factor>].png."""
    from PIL import Image
    from torch.utils.tensorboard import SummaryWriter

    from aelab.generation import image as generate_images
    from aelab.generation import text as generate_text
    from aelab.metrics.text_features import build_text_measures

    run = Path(run_dir).expanduser()
    stem = output_stem(task, tag)
    if input is not None and task not in ("denoise", "upscale"):
        raise AelabError(f"input={input} is for task=denoise or task=upscale (an image file to "
                         f"restore), not task={task}")
    if input is not None and tag is not None:
        raise AelabError(f"tag={tag} names a generated/{task}_<tag> output; a restored input= "
                         "file is named after that file")
    features, lm = build_text_measures(options.pop("text_metrics", None))
    if (features is not None or lm is not None) and task != "sample":
        raise AelabError(f"text_metrics.features.run / text_metrics.lm.run measure the sentences "
                         f"of task=sample, not task={task}")
    cfg, datamodule, model, _ = load_run(run_dir, ckpt, trust_run_config)
    if (features is not None or lm is not None) and datamodule.modality != "text":
        raise AelabError("text_metrics.* measure a text run's samples; this run is an "
                         f"{datamodule.modality} model: its samples' FID, KID, precision and "
                         "recall come from eval.py run_dir=RUN metrics.features.run=<a "
                         "model=classifier run>")
    model = model.to(pick_device(accelerator or cfg.trainer.accelerator)).eval()
    sample_steps = options.pop("sample_steps", None)
    if sample_steps is not None:
        if not hasattr(model, "sample_steps"):
            raise AelabError(f"sample_steps={sample_steps} sets a diffusion sampler's steps; "
                             f"this run is a {type(model).__name__}, which has none")
        if not isinstance(sample_steps, int) or sample_steps < 1:
            raise AelabError(f"sample_steps={sample_steps}: give a whole number >= 1 "
                             "(null: the run's model.sample_steps)")
        model.sample_steps = sample_steps
    labels = class_request(model, task, options.pop("classes", None), options.pop("guidance", None),
                           options.get("n", 32))
    if labels is not None:
        options["labels"] = labels
    if input is not None:
        from aelab.generation.image_file import restore_file

        if datamodule.modality != "image":
            raise AelabError(f"input={input}: restoring a file is for image runs; this run is a "
                             f"{datamodule.modality} model")
        return restore_file(model, task, Path(input).expanduser(), run / "generated")
    if datamodule.modality == "text":
        lines = generate_text.run_task(task, model, datamodule, **options)
        out = free_name(make_dirs(run / "generated") / f"{stem}.txt")
        atomic_write_text(out, "\n".join(lines) + "\n")
        if task == "sample":  # sample.txt -> sample_metrics.json, sample-1.txt -> sample-1_metrics.json
            measures = [m.to(model.device) if m is not None else None for m in (features, lm)]
            scores = generate_text.sample_metrics(lines, datamodule, *measures)
            write_metrics(out.with_name(f"{out.stem}_metrics.json"), scores)
            for key, value in scores.items():
                log.info("%s  %.6g", key, value)
        with SummaryWriter(str(run / "tensorboard")) as writer:
            writer.add_text(f"generated/{stem}", "  \n".join(lines))
        return out
    grid = generate_images.run_task(task, model, datamodule, **options)
    out = free_name(make_dirs(run / "generated") / f"{stem}.png")
    pixels = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    image = Image.fromarray(pixels)
    scale = max(1, 512 // max(image.size))  # small images are enlarged so they can be seen
    atomic_save_image(image.resize((image.width * scale, image.height * scale),
                                   Image.Resampling.NEAREST), out)
    with SummaryWriter(str(run / "tensorboard")) as writer:
        writer.add_image(f"generated/{stem}", grid)
    if labels is not None:
        write_classes(out.with_suffix(".classes.txt"), labels, model.guidance)
    return out


def output_stem(task: str, tag: str | None) -> str:
    """generated/<task> or, tagged, generated/<task>_<tag>: a tag is one plain file-name word."""
    if tag is None:
        return task
    if isinstance(tag, int | float) and not isinstance(tag, bool):  # tag=2 arrives as a number
        tag = str(tag)
    if not isinstance(tag, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", tag):
        raise AelabError(f"tag={tag}: give one word of letters, digits, '_', '.' or '-' (it names "
                         f"the output, generated/{task}_<tag>)")
    return f"{task}_{tag}"


def class_request(model, task: str, classes, guidance, n: int):
    """The class labels of generate.py's `classes` for n samples, with the run's guidance set
    to `guidance` if given; None for an unconditional sample. One line where it cannot be."""
    from omegaconf import ListConfig

    if classes is None and guidance is None:
        return None
    what = f"classes={classes}" if classes is not None else f"guidance={guidance}"
    if not hasattr(model, "class_labels"):
        raise AelabError(f"{what} is for a class-conditional latent_diffusion run "
                         f"(model.conditional=true); this run is a {type(model).__name__}")
    if task != "sample":
        raise AelabError(f"{what} is for task=sample, not task={task}")
    if guidance is not None:
        if not isinstance(guidance, int | float) or guidance < 0:
            raise AelabError(f"guidance={guidance}: give a number >= 0 (1: plain conditional, "
                             "0: unconditional; null: the run's model.guidance)")
        model.guidance = float(guidance)
    if classes is None:
        raise AelabError(f"guidance={guidance} guides samples of given classes; add classes= "
                         "(a class index, a list [0,3], or all)")
    if isinstance(classes, ListConfig):
        classes = list(classes)
    return model.class_labels(classes, n).cpu()


def write_classes(file: Path, labels, guidance: float, per_row: int = 8) -> None:
    """The class each sample of a grid was asked for, a line per row of the grid."""
    rows = [" ".join(str(int(c)) for c in labels[i:i + per_row])
            for i in range(0, len(labels), per_row)]
    atomic_write_text(file, f"# the class each sample was asked for, in the grid's order, "
                            f"{per_row} a row; guidance {guidance:g}\n" + "\n".join(rows) + "\n")
