"""What text samples are measured with: runs trained here, as image samples are measured in a
classifier run's features (aelab.metrics.features), picked by generate.py's `text_metrics`.

- `TextRunFeatures` (`text_metrics.features.run=RUN`): a sentence's vector for the Fréchet
  distance, the "FID for sentences": the mean over its tokens of the top layer's hidden
  states, of the encoder of a text autoencoder or VAE run (lstm_ae, transformer_ae,
  lstm_vae, transformer_vae, gru_vae), or of a language model run's decoder (lstm_lm,
  transformer_lm). Mean hidden states, not the code: a code is what a decoder needs to
  rebuild one sentence, squeezed to `latent_dim`; the states are the network's reading.
- `LanguageModelScore` (`text_metrics.lm.run=RUN`): each sentence's NLL under a language
  model run, for the samples' perplexity (fluency).

Sentences arrive as text (the sampled run's words joined by spaces, as generate.py writes
them) and are encoded with the measuring run's own tokenizer.json, so it may have another
vocabulary than the sampled run: a word it does not know is its <unk>.
"""

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from aelab.data.text import TokenBatches
from aelab.errors import AelabError
from aelab.metrics.features import FeatureExtractor, check_metric_name
from aelab.metrics.text import SequenceNLL

TEXT_AUTOENCODERS = "lstm_ae, transformer_ae, lstm_vae, transformer_vae, gru_vae"
LANGUAGE_MODELS = "lstm_lm, transformer_lm"


def load_text_run(run_dir: str | None, option: str, trust_run_config: bool,
                  language_model_only: bool):
    """(model with its best weights, frozen, in eval mode; its tokenizer) of a text run:
    an autoencoder / VAE or a language model, or only a language model. Built as the latent
    diffusion prior builds its autoencoder: from the saved config (the allowlist), with the
    vocabulary size read from the run's tokenizer.json, its data never loaded."""
    from hydra.utils import get_class
    from tokenizers import Tokenizer

    from aelab.models.text.base import LatentTextModel
    from aelab.models.text.lm import LanguageModel
    from aelab.run_dir import instantiate_model, load_run_config, load_weights

    kinds = LANGUAGE_MODELS if language_model_only else f"{TEXT_AUTOENCODERS}, {LANGUAGE_MODELS}"
    if not run_dir:
        raise AelabError(f"{option} is not set; give the run dir of a train.py run of one of: "
                         f"{kinds}")
    run = Path(run_dir).expanduser()
    if not run.is_dir():
        raise AelabError(f"{option}={run_dir} is not a directory; give the run dir of a "
                         f"train.py run of one of: {kinds}")
    cfg = load_run_config(run, trust_run_config)
    cls = get_class(cfg.model._target_)  # on the allowlist: load_run_config checked it
    wanted = (LanguageModel,) if language_model_only else (LatentTextModel, LanguageModel)
    if not issubclass(cls, wanted):
        raise AelabError(f"{option}={run_dir} is a {cls.__name__} run; give the run dir of "
                         f"one of: {kinds}")
    saved = run / "tokenizer.json"
    if not saved.exists():
        raise AelabError(f"{option}={run_dir} has no tokenizer.json: its words cannot be "
                         "numbered as it was trained; put the run's tokenizer.json back")
    tokenizer = Tokenizer.from_file(str(saved))
    model = instantiate_model(cfg, vocab_size=tokenizer.get_vocab_size())
    load_weights(model, run)
    return model.requires_grad_(False).eval(), tokenizer


def sentence_batches(tokenizer, sentences: list[str], device: torch.device,
                     batch_size: int = 256) -> Iterator[dict]:
    """`<bos> w1 .. wn <eos>` id batches of `sentences` in their order, as the run's data
    module makes them (padded; `lengths` count <bos> and <eos>)."""
    ids = [encoding.ids for encoding in tokenizer.encode_batch(list(sentences))]
    rows = TokenBatches(ids)
    for start in range(0, len(ids), batch_size):
        batch = rows[list(range(start, min(start + batch_size, len(ids))))]
        yield {key: value.to(device) for key, value in batch.items()}


def positions_up_to(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B, width) float mask: 1 at the first `lengths[b]` positions of row b."""
    return (torch.arange(width, device=lengths.device) < lengths.unsqueeze(1)).float()


class TextRunFeatures(FeatureExtractor):
    """Mean top-layer hidden state of a text run's encoder (autoencoders, VAEs) or decoder
    (language models): sentences -> (N, num_features)."""

    def __init__(self, run: str | None, name: str, trust_run_config: bool):
        super().__init__(name, "text_metrics.features.name", "sample/fd_<name>")
        self.model, self.tokenizer = load_text_run(run, "text_metrics.features.run",
                                                   trust_run_config, language_model_only=False)
        self.run = run
        self.reads_with = "encoder" if hasattr(self.model, "encoder") else "decoder"
        # The width of the states depends on the net (directions, pooling); one sentence says.
        self.num_features = self(["."]).shape[1]

    @torch.no_grad()
    def forward(self, sentences: list[str]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        features = []
        for batch in sentence_batches(self.tokenizer, sentences, device):
            tokens, lengths = batch["tokens"], batch["lengths"]
            if self.reads_with == "encoder":  # the encoder reads <bos> w1 .. wn <eos>, as in training
                states = self.model.encoder.token_states(tokens, lengths)
            else:  # the decoder reads <bos> w1 .. wn, and its last state has seen every word
                tokens, lengths = tokens[:, :-1], lengths - 1
                states = self.model.decoder.token_states(tokens, lengths)
            mask = positions_up_to(lengths, states.shape[1]).unsqueeze(-1)
            features.append((states * mask).sum(1) / lengths.unsqueeze(1))
        return torch.cat(features).float()


class LanguageModelScore(nn.Module):
    """Sentences' perplexity under a language model run: exp(total NLL / tokens), the
    tokens being the words and <eos> of each sentence, as the run's own test/ppl counts."""

    def __init__(self, run: str | None, name: str, trust_run_config: bool):
        super().__init__()
        self.name = check_metric_name(name, "text_metrics.lm.name", "sample/ppl_<name>")
        self.run = run
        self.model, self.tokenizer = load_text_run(run, "text_metrics.lm.run", trust_run_config,
                                                   language_model_only=True)

    def train(self, mode: bool = True) -> "LanguageModelScore":
        return super().train(False)  # frozen: dropout stays off

    @torch.no_grad()
    def nll(self, sentences: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed NLL in nats, tokens scored) per sentence."""
        from aelab.models.text.base import sentence_nll, shift

        device = next(self.model.parameters()).device
        totals, counts = [], []
        for batch in sentence_batches(self.tokenizer, sentences, device):
            inputs, targets, lengths = shift(batch)
            totals.append(sentence_nll(self.model.decoder(inputs, lengths).float(), targets))
            counts.append(lengths)
        return torch.cat(totals), torch.cat(counts)

    def perplexity(self, sentences: list[str]) -> float:
        metric = SequenceNLL()
        metric.update(*(t.cpu() for t in self.nll(sentences)))
        return float(metric.compute()["ppl"])


def build_text_measures(node) -> tuple[TextRunFeatures | None, LanguageModelScore | None]:
    """The features and the language model generate.py's `text_metrics` names; each None
    while its `run` is not set. Built before the sampled run loads, so a wrong run dir stops
    generate.py at once."""
    from aelab.run_dir import instantiate_checked

    def built(part: str):
        sub = node.get(part) if node is not None else None
        return None if sub is None or sub.get("run") is None else instantiate_checked(sub)

    return built("features"), built("lm")
