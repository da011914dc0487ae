"""Text generation tasks behind generate.py: reconstruct, sample, interpolate, denoise.

Each returns lines of text that `aelab.run.generate` writes to <run dir>/generated/<task>.txt.
"""

import torch

from aelab.errors import AelabError
from aelab.generation.image import between


def _decoding(decoding: str, temperature: float, top_p: float, beam: int) -> dict:
    return {"strategy": decoding, "temperature": temperature, "top_p": top_p, "beam": beam}


@torch.no_grad()
def reconstruct(model, datamodule, n, decoding, **kw) -> list[str]:
    model.require("reconstruct")
    batch = {k: v.to(model.device) for k, v in datamodule.examples("test", n).items()}
    outputs = model.reconstruct(batch, **decoding)
    lines = []
    for source, output in zip(batch["tokens"][:, 1:], outputs, strict=True):
        lines += [f"in:  {datamodule.decode(source)}", f"out: {datamodule.decode(output)}", ""]
    return lines


@torch.no_grad()
def sample(model, datamodule, n, decoding, prior_temperature: float = 1.0, **kw) -> list[str]:
    """`decoding["temperature"]` is the softmax's over the words; `prior_temperature` the
    spread of a Gaussian prior's codes (a VAE, latent diffusion)."""
    model.require("sample")
    if model.gaussian_prior:
        return [datamodule.decode(ids) for ids in model.sample(n, prior_temperature, **decoding)]
    if prior_temperature != 1:
        raise AelabError(f"prior_temperature={prior_temperature} scales a Gaussian prior's codes "
                         f"(lstm_vae, transformer_vae, latent_diffusion); a "
                         f"{type(model).__name__} has none: temperature= is its words' softmax")
    return [datamodule.decode(ids) for ids in model.sample(n, **decoding)]


@torch.no_grad()
def interpolate(model, datamodule, n, decoding, steps: int = 8, **kw) -> list[str]:
    """Sentences decoded along the line between the codes of two test sentences (straight,
    or the model's own `mix`, as for images)."""
    model.require("interpolate")
    pairs = max(1, n // steps)
    batch = {k: v.to(model.device) for k, v in datamodule.examples("test", 2 * pairs).items()}
    z = model.encode(batch["tokens"], batch["lengths"])
    lines = []
    for p in range(pairs):
        a, b = batch["tokens"][2 * p, 1:], batch["tokens"][2 * p + 1, 1:]
        t = torch.linspace(0, 1, steps, device=z.device).unsqueeze(1)
        path = between(model, z[2 * p], z[2 * p + 1], t)
        decoded = model.generate(path, steps, **decoding)
        lines += [f"from: {datamodule.decode(a)}"]
        lines += [f"{float(w):.2f}  {datamodule.decode(ids)}" for w, ids in zip(t, decoded, strict=True)]
        lines += [f"to:   {datamodule.decode(b)}", ""]
    return lines


@torch.no_grad()
def denoise(model, datamodule, n, decoding, seed: int = 0, **kw) -> list[str]:
    """Test sentences noised by the run's corruption, the model's output, the clean sentence."""
    model.require("denoise")
    batch = {k: v.to(model.device) for k, v in datamodule.examples("test", n).items()}
    tokens, lengths = model.corrupt(batch["tokens"], batch["lengths"], seed)
    longest = max(model.max_gen_len, batch["tokens"].shape[1])
    outputs = model.reconstruct({"tokens": tokens, "lengths": lengths},
                                **{"max_len": longest, **decoding})
    lines = []
    for noisy, output, clean in zip(tokens[:, 1:], outputs, batch["tokens"][:, 1:], strict=True):
        lines += [f"in:    {datamodule.decode(noisy)}", f"out:   {datamodule.decode(output)}",
                  f"clean: {datamodule.decode(clean)}", ""]
    return lines


def sample_metrics(samples: list[str], datamodule, features=None, lm=None) -> dict[str, float]:
    """The quality of task=sample's sentences (aelab.metrics.text_samples), beside that of as
    many test sentences (decoded from their ids, so tokenised and <unk>-ed as the samples
    are); the Fréchet floor compares as many validation sentences with those."""
    from aelab.metrics.text_samples import sample_quality

    n = len(samples)
    test = [datamodule.decode(ids) for ids in datamodule.ids["test"][:n]]
    held_out = [datamodule.decode(ids) for ids in datamodule.ids["val"][:n]]
    return sample_quality(samples, test, held_out, features, lm)


def run_task(task: str, model, datamodule, n: int = 16, seed: int = 0,
             decoding: str = "greedy", temperature: float = 1.0, top_p: float = 1.0,
             beam: int = 5, steps: int = 8, prior_temperature: float = 1.0, **_) -> list[str]:
    model.require(task)
    torch.manual_seed(seed)
    options = _decoding(decoding, temperature, top_p, beam)
    return globals()[task](model, datamodule, n, options, steps=steps, seed=seed,
                           prior_temperature=prior_temperature)
