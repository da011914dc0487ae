"""Word noise: the text corruption, for denoising autoencoders (Shen et al., 2020; Lample
et al., 2018). `corruption=word_noise`, as the image corruptions are `corruption=gaussian`.

Applied to the encoder's input only (training draws fresh noise, val/test a fixed noise per
batch, as for images): each word is dropped, blanked (made
<unk>) or substituted by a random word with the given probabilities, and words move at
most `shuffle` positions (local shuffle). The decoder still has to produce the clean
sentence.

The whole batch is noised at once, on the batch's own device. The loop over sentences it
replaces was far slower on a CPU core and set the pace of the denoising AE's epochs on a GPU,
well behind the plain AE's (experiments/text_wordnet/README.md, the GPU plan at its end).
"""

import torch

from aelab.data.text import PAD_ID, SPECIALS, UNK_ID
from aelab.options import NonNegativeInt, Probability


class WordNoise:
    """`__call__(tokens, lengths, vocab_size, generator)` -> noisy tokens and lengths.

    A model trained on it denoises; its trivial baseline is the noisy input itself, scored
    as a reconstruction (`test/bleu_input`)."""

    modality = "text"
    task = "denoise"
    baselines = ("bleu_input",)

    def __init__(self, drop: Probability, blank: Probability, substitute: Probability,
                 shuffle: NonNegativeInt):
        self.drop, self.blank, self.substitute, self.shuffle = drop, blank, substitute, shuffle

    def __call__(self, tokens: torch.Tensor, lengths: torch.Tensor, vocab_size: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return word_noise(tokens, lengths, vocab_size, self.drop, self.blank, self.substitute,
                          self.shuffle, generator)

    def __repr__(self) -> str:
        return f"WordNoise(drop={self.drop}, blank={self.blank}, substitute={self.substitute}, " \
               f"shuffle={self.shuffle})"


def word_noise(tokens: torch.Tensor, lengths: torch.Tensor, vocab_size: int, drop: float = 0.0,
               blank: float = 0.0, substitute: float = 0.0, shuffle: float = 0.0,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens (B, T) as <bos> w.. <eos> <pad>.. -> noisy tokens and their new lengths."""
    if not (drop or blank or substitute or shuffle):
        return tokens, lengths
    batch, width = tokens.shape
    device = generator.device if generator is not None else tokens.device

    def uniform() -> torch.Tensor:
        return torch.rand(batch, width, generator=generator, device=device).to(tokens.device)

    position = torch.arange(width, device=tokens.device).expand(batch, width)
    words = (position >= 1) & (position < lengths.unsqueeze(1) - 1)  # between <bos> and <eos>
    if shuffle > 0:
        # Each word moves to the rank of position + U(0, shuffle + 1): never more than `shuffle`
        # places. <bos> stays first; <eos> and padding stay after the words, in order.
        after_words = position + width + shuffle + 2  # past any word's key
        keys = torch.where(words, position + uniform() * (shuffle + 1), after_words)
        keys[:, 0] = -1.0
        tokens = tokens.gather(1, keys.argsort(dim=1, stable=True))
    tokens = torch.where(words & (uniform() < blank), UNK_ID, tokens)
    random_words = torch.randint(len(SPECIALS), vocab_size, (batch, width), generator=generator,
                                 device=device).to(tokens.device)
    tokens = torch.where(words & (uniform() < substitute), random_words, tokens)
    dropped = words & (uniform() < drop)
    # Never drop a whole sentence: a sentence that would lose every word keeps its first.
    lost_all = (dropped == words).all(1) & words.any(1)
    dropped[:, 1] &= ~lost_all
    # Move the kept tokens to the front, in order, and pad the rest.
    order = torch.where(dropped, position + width, position).argsort(dim=1, stable=True)
    new_lengths = lengths - dropped.sum(1)
    noisy = tokens.gather(1, order)
    noisy = noisy.masked_fill(position >= new_lengths.unsqueeze(1), PAD_ID)
    return noisy[:, : int(new_lengths.max())], new_lengths
