"""Runs that differ only in `seed` are one cell: mean, standard deviation, n and a 95%
confidence interval (Student t), and which cells cannot be told apart from the best one.

The test is Welch's t-test (unequal variances) of each cell against the best cell, on the
per-seed values; a cell with p >= 0.05 is "not distinguishable from the best". Overlapping
intervals would be a weaker criterion (two 95% intervals can overlap while the difference is
significant), so the table uses the test and prints its p-value.
"""

import math
from dataclasses import dataclass

ALPHA = 0.05


@dataclass
class Cell:
    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def std(self) -> float | None:
        """Sample standard deviation (n - 1); None for a single seed."""
        if self.n < 2:
            return None
        return math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (self.n - 1))

    @property
    def ci_half_width(self) -> float | None:
        """Half the width of the 95% Student-t interval of the mean; None for one seed."""
        if self.n < 2:
            return None
        from scipy.stats import t

        return float(t.ppf(1 - ALPHA / 2, self.n - 1)) * self.std / math.sqrt(self.n)


def welch_p(a: Cell, b: Cell) -> float | None:
    """Two-sided p-value of Welch's t-test for equal means; None below two seeds each."""
    if a.n < 2 or b.n < 2:
        return None
    if a.std == 0 and b.std == 0:
        return 1.0 if a.mean == b.mean else 0.0
    from scipy.stats import ttest_ind

    return float(ttest_ind(a.values, b.values, equal_var=False).pvalue)


def mark_against_best(cells: list[Cell], higher_is_better: bool) -> list[str]:
    """'best', '~ best (p=0.31)' or 'p=0.002' per cell; '' where a cell has no values."""
    scored = [i for i, c in enumerate(cells) if c.n]
    if not scored:
        return [""] * len(cells)
    sign = -1 if higher_is_better else 1
    best = min(scored, key=lambda i: sign * cells[i].mean)
    marks = []
    for i, cell in enumerate(cells):
        if not cell.n:
            marks.append("")
        elif i == best:
            marks.append("best")
        else:
            p = welch_p(cell, cells[best])
            marks.append("n < 2" if p is None else
                         f"~ best (p={p:.2f})" if p >= ALPHA else f"p={p:.2g}")
    return marks
