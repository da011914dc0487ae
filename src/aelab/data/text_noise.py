"""Input noise for denoising text autoencoders (Shen et al., 2020; Lample et al., 2018).

Applied to the encoder's input only, in training: each word is dropped, blanked (made
<unk>) or substituted by a random word with the given probabilities, and words move at
most `shuffle` positions (local shuffle). The decoder still has to produce the clean
sentence.
"""

import torch

from aelab.data.text import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID


def word_noise(tokens: torch.Tensor, lengths: torch.Tensor, vocab_size: int, drop: float = 0.0,
               blank: float = 0.0, substitute: float = 0.0, shuffle: float = 0.0,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens (B, T) as <bos> w.. <eos> <pad>.. -> noisy tokens and their new lengths."""
    if not (drop or blank or substitute or shuffle):
        return tokens, lengths
    rows = []
    for row, n in zip(tokens.cpu(), lengths.tolist(), strict=True):
        words = row[1 : n - 1].clone()  # between <bos> and <eos>
        if shuffle > 0 and len(words) > 1:
            keys = torch.arange(len(words)) + torch.rand(len(words), generator=generator) * (shuffle + 1)
            words = words[keys.argsort()]
        u = torch.rand(len(words), generator=generator)
        words = torch.where(u < blank, UNK_ID, words)
        random_words = torch.randint(len(SPECIALS), vocab_size, (len(words),), generator=generator)
        v = torch.rand(len(words), generator=generator)
        words = torch.where(v < substitute, random_words, words)
        keep = torch.rand(len(words), generator=generator) >= drop
        if keep.sum() == 0 and len(words):  # never drop a whole sentence
            keep[0] = True
        rows.append(torch.cat([torch.tensor([BOS_ID]), words[keep], torch.tensor([EOS_ID])]))
    new_lengths = torch.tensor([len(r) for r in rows])
    out = torch.full((len(rows), int(new_lengths.max())), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out.to(tokens.device), new_lengths.to(lengths.device)
