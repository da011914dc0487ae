"""Text models' shared base: a decoder from config, its metrics and decoding (`TextModel`),
and the base of the models with a code (`LatentTextModel`: an encoder from config, the
code, reconstruction, the word-noise corruption and BLEU)."""

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.text import BLEUScore

from aelab.data.corruption import seeded_generator, step_generator
from aelab.data.text import EOS_ID, PAD_ID, UNK_ID
from aelab.data.text_noise import WordNoise
from aelab.errors import AelabError
from aelab.metrics.text import SequenceNLL
from aelab.models.capabilities import Capabilities
from aelab.models.optim import configure
from aelab.models.stages import StepsByStage
from aelab.nets.text.decoding import beam_search, greedy_or_sample
from aelab.options import DropProbability, PositiveInt


def shift(batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """<bos> w1 .. wn <eos> -> decoder inputs (<bos> .. wn), targets (w1 .. <eos>), lengths."""
    tokens = batch["tokens"]
    return tokens[:, :-1], tokens[:, 1:], batch["lengths"] - 1


def sentence_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed token NLL per sentence (nats); <pad> targets count nothing."""
    # Over (B*T, V) rows: the vocabulary contiguous, where (B, V, T) would first be copied.
    nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD_ID,
                          reduction="none")
    return nll.view_as(targets).sum(1)


def ids_to_text(ids: torch.Tensor, unk_as: str | None = None) -> list[str]:
    """Rows of ids -> space-joined id strings up to <eos>, for BLEU (ids are words 1:1).

    `unk_as` writes <unk> as that word instead of its id: give the hypotheses and the
    references two different words and a reproduced <unk> can never count as a match."""
    out = []
    for row in ids.tolist():
        words = []
        for i in row:
            if i in (PAD_ID, EOS_ID):
                break
            words.append(unk_as if i == UNK_ID and unk_as is not None else str(i))
        out.append(" ".join(words))
    return out


class TextModel(Capabilities, StepsByStage, L.LightningModule):
    """A decoder (`model.decoder`, a config partial completed here with the vocabulary and
    the sizes), its likelihood metrics and decoding. Sizes as in docs/models.md: `depth` (layers),
    `width` (hidden units), `embed_dim`, `dropout`; every default is in the model's yaml."""

    modality = "text"

    def __init__(self, vocab_size: int, optimizer, *, decoder: Callable, depth: PositiveInt,
                 width: PositiveInt, embed_dim: PositiveInt, dropout: DropProbability,
                 max_gen_len: PositiveInt, scheduler=None, monitor: str = "val/loss",
                 corruption: WordNoise | None = None, code_dim: int = 0):
        """`code_dim` is the subclass's, not an option: the size of the code the decoder is
        conditioned on (a LatentTextModel's latent_dim; 0, no code, for a language model)."""
        super().__init__()
        self.latent_dim = code_dim
        self.vocab_size, self.max_gen_len = vocab_size, max_gen_len
        self.optimizer, self.scheduler, self.monitor = optimizer, scheduler, monitor
        self.corruption = corruption
        self.net_sizes = {"vocab_size": vocab_size, "embed_dim": embed_dim, "width": width,
                          "depth": depth, "dropout": dropout}
        try:
            self.decoder = decoder(latent_dim=code_dim, **self.net_sizes)
        except ValueError as err:
            raise AelabError(str(err)) from None
        # "nll": the model's likelihood of the text; "rec": reconstruction given the code.
        self.likelihoods = torch.nn.ModuleDict({f"{stage}_{kind}": SequenceNLL()
                                                for stage in ("val", "test")
                                                for kind in ("nll", "rec")})
        self.token_acc = torch.nn.ModuleDict({s: MeanMetric() for s in ("val", "test")})

    # -- generation -------------------------------------------------------------------------
    def generate(self, z: torch.Tensor | None, n: int, strategy: str = "greedy",
                 temperature: float = 1.0, top_p: float = 1.0, beam: int = 5,
                 max_len: int | None = None) -> torch.Tensor:
        """Token ids (n, <= max_len or max_gen_len), by 'greedy', 'sample' or 'beam' decoding."""
        max_len = max_len or self.max_gen_len
        if strategy == "beam":
            return beam_search(self.decoder, z, n, max_len, beam)
        if strategy not in ("greedy", "sample"):
            raise AelabError(f"decoding={strategy} is not one of: greedy, sample, beam")
        return greedy_or_sample(self.decoder, z, n, max_len, strategy == "sample",
                                temperature, top_p)

    # -- metrics ------------------------------------------------------------------------------
    def log_token_accuracy(self, stage: str, logits, targets, n: int) -> None:
        mask = targets != PAD_ID
        accuracy = ((logits.argmax(-1) == targets) & mask).sum() / mask.sum()
        self.token_acc[stage].update(accuracy, weight=mask.sum())
        self.log(f"{stage}/token_acc", self.token_acc[stage], on_epoch=True, batch_size=n)

    def score_tokens(self, stage: str, logits, targets, kind: str) -> tuple[torch.Tensor, int]:
        """Per-token loss (nats) of teacher-forced `logits` and the tokens it averages over;
        on val/test the sentence likelihood of `kind` ("nll" or "rec") and the token accuracy
        are logged. The epoch's loss is then the batches' per-token losses weighted by their
        token counts (not sentences: that would favour short sentences), so it is the split's
        total NLL / tokens = ln(ppl) of the same sentences."""
        nll = sentence_nll(logits, targets)
        tokens = int((targets != PAD_ID).sum())
        if stage != "train":
            self.update_likelihood(stage, kind, nll, targets)
            self.log_token_accuracy(stage, logits, targets, len(targets))
        return nll.sum() / tokens, tokens

    def update_likelihood(self, stage: str, kind: str, nll: torch.Tensor,
                          targets: torch.Tensor) -> None:
        self.likelihoods[f"{stage}_{kind}"].update(nll, (targets != PAD_ID).sum(1))

    def log_likelihoods(self, stage: str) -> None:
        """`nll` and `ppl` from "nll"; `rec_ppl` from "rec", for what was updated."""
        for kind in ("nll", "rec"):
            metric = self.likelihoods[f"{stage}_{kind}"]
            if not metric.update_called:
                continue
            values = metric.compute()
            if kind == "nll":
                self.log(f"{stage}/nll", values["nll"])
                self.log(f"{stage}/ppl", values["ppl"])
            else:
                self.log(f"{stage}/rec_ppl", values["ppl"])
            metric.reset()

    def on_validation_epoch_end(self) -> None:
        self.log_likelihoods("val")

    def on_test_epoch_end(self) -> None:
        self.log_likelihoods("test")

    def configure_optimizers(self) -> dict:
        return configure(self.named_parameters(), self.optimizer, self.scheduler, self.monitor,
                         lambda: self.trainer.estimated_stepping_batches)


class LatentTextModel(TextModel):
    """A text model with a code: an encoder (`model.encoder`, a config partial) reads the
    sentence, a linear layer makes the code of `latent_dim` (times `latent_outputs`), the
    decoder is conditioned on it. With `corruption=word_noise` the encoder reads a noised
    sentence and the decoder must write the clean one (a denoising autoencoder); val/test
    noise is fixed per batch, as for images, and `test/bleu_input` scores the noisy input."""

    tasks = frozenset({"reconstruct", "interpolate"})
    instead = {"denoise": "train it with corruption=word_noise, then run task=denoise on that run",
               "upscale": "upscaling is an image task (corruption=downsample)"}

    def __init__(self, *args, encoder: Callable, latent_dim: PositiveInt, latent_outputs: int = 1,
                 **kwargs):
        """`latent_outputs` is the objective's, not an option: the encoder's outputs per latent
        dimension (a VAE's mean and log-variance: 2)."""
        super().__init__(*args, code_dim=latent_dim, **kwargs)
        try:
            self.encoder = encoder(**self.net_sizes)
        except ValueError as err:
            raise AelabError(str(err)) from None
        self.to_latent = torch.nn.Linear(self.encoder.out_dim, latent_dim * latent_outputs)
        # Corpus BLEU-4 of greedy reconstructions: `bleu` on the words as they are, and
        # `bleu_known`, where an <unk> reproduced as <unk> is no hit (on WordNet a good share
        # of the test words are <unk>, experiments/text_wordnet/README.md: free credit for
        # copying a symbol that says nothing);
        # `bleu_input`, with a corruption: the noisy input itself as the "reconstruction".
        self.bleu = BLEUScore(n_gram=4)
        self.bleu_known = BLEUScore(n_gram=4)
        self.bleu_input = BLEUScore(n_gram=4)

    def available_tasks(self) -> frozenset[str]:
        return self.tasks | ({self.corruption.task} if self.corruption is not None else set())

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.encoder(tokens, lengths))

    def corrupt(self, tokens: torch.Tensor, lengths: torch.Tensor,
                seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's input for clean sentences; a seed makes evaluation noise repeatable."""
        return self.corrupt_with(tokens, lengths, seeded_generator(seed, tokens.device))

    def corrupt_with(self, tokens: torch.Tensor, lengths: torch.Tensor,
                     generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.corruption is None:
            return tokens, lengths
        return self.corruption(tokens, lengths, self.vocab_size, generator)

    def step_source(self, batch: dict, stage: str, batch_idx: int):
        """The encoder's input for a batch (noise as `step_generator` says)."""
        tokens = batch["tokens"]
        return self.corrupt_with(tokens, batch["lengths"],
                                 step_generator(stage, batch_idx, tokens.device))

    def reconstruct(self, batch: dict, **decoding) -> torch.Tensor:
        tokens, lengths = batch["tokens"], batch["lengths"]
        # Test sentences are not cut to data.max_len: room for the longest one (+ <eos>).
        max_len = max(self.max_gen_len, tokens.shape[1])
        return self.generate(self.encode(tokens, lengths), len(tokens),
                             **{"max_len": max_len, **decoding})

    def log_bleu(self, batch: dict, source: tuple[torch.Tensor, torch.Tensor]) -> None:
        """BLEU of greedy reconstructions of `source` (the encoder's input: the noisy
        sentences under a corruption) against the clean sentences of `batch`."""
        noisy = {"tokens": source[0], "lengths": source[1]}
        longest = max(self.max_gen_len, batch["tokens"].shape[1])  # of the clean sentences
        outputs, sources = self.reconstruct(noisy, max_len=longest), batch["tokens"][:, 1:]
        n = len(sources)
        if self.corruption is not None:
            self.bleu_input.update(ids_to_text(noisy["tokens"][:, 1:]),
                                   [[ref] for ref in ids_to_text(sources)])
            self.log("test/bleu_input", self.bleu_input, on_epoch=True, batch_size=n)
        self.bleu.update(ids_to_text(outputs), [[ref] for ref in ids_to_text(sources)])
        self.log("test/bleu", self.bleu, on_epoch=True, batch_size=n)
        self.bleu_known.update(ids_to_text(outputs, unk_as="<unk:output>"),
                               [[ref] for ref in ids_to_text(sources, unk_as="<unk:source>")])
        self.log("test/bleu_known", self.bleu_known, on_epoch=True, batch_size=n)
