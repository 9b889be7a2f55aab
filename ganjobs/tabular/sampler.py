"""The conditional vector and training-by-sampling (CTGAN's ideas, written here).

Every generated row is asked for one category of one categorical column: the conditional
vector is that category's one-hot, placed in the block of its column (all other blocks 0).
In training the column is drawn uniformly and the category by the logarithm of its frequency,
then a real row holding that category is drawn for the critic to compare with; rare
categories (a 5% bad class, a state with 30 loans) are therefore seen far more often than in
plain row sampling, and the generator learns them. In generation the category is drawn by its
frequency (the table's own mix), or fixed by the user (``--where``): never by rejection.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ganjobs.errors import GanjobsError


class CondSampler:
    """Conditional vectors and, given the training rows, real rows that match them.

    Parameters
    ----------
    counts : sequence of sequences of int
        Training rows of every category of every categorical column (the column's block).
    log_frequency : bool
        Draw training categories by log frequency (else by frequency).
    min_rows : int
        Categories with fewer training rows are never asked for: conditioning on them would
        show the critic the same few rows over and over, and the generator would learn to
        copy them. They still occur, at their own rate, in rows asked for something else.
    device : torch.device
    codes : ndarray, shape (n, len(counts)), optional
        Category index of every training row in every categorical column; needed for
        training (:meth:`draw_training`, :meth:`for_rows`), not for generation.
    """

    def __init__(self, counts: Sequence[Sequence[int]], log_frequency: bool, min_rows: int,
                 device: torch.device, codes: np.ndarray | None = None) -> None:
        self.widths = [len(c) for c in counts]
        self.device = device
        self.n_columns = len(self.widths)
        self.offsets = np.concatenate([[0], np.cumsum(self.widths)]).astype(np.int64)
        self.dim = int(self.offsets[-1])
        table = np.zeros((self.n_columns, max(self.widths, default=1)), dtype=np.float64)
        for j, c in enumerate(counts):
            table[j, :len(c)] = c
        self.askable = table >= max(1, int(min_rows))
        usable = np.where(self.askable, table, 0.0)
        # A column none of whose categories may be asked for is never drawn.
        self.columns = np.flatnonzero(self.askable.any(axis=1))
        train_w = np.log1p(usable) if log_frequency else usable
        self.train_probs = torch.tensor(_normalise(train_w), device=device)
        self.freq_probs = torch.tensor(_normalise(usable), device=device)
        self._columns = torch.tensor(self.columns, dtype=torch.long, device=device)
        self.codes: torch.Tensor | None = None
        if codes is not None:
            codes = np.asarray(codes, dtype=np.int64).reshape(-1, self.n_columns)
            self.n_rows = int(codes.shape[0])
            self.codes = torch.tensor(codes, device=device)
            self._pool, self._begin, self._count = self._row_pools(codes, table)

    def _pick_columns(self, batch: int, rng: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self._columns), (batch,), generator=rng, device=self.device)
        return self._columns[idx]

    def _row_pools(self, codes: np.ndarray, counts: np.ndarray
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows grouped by (column, category): ``pool[begin[g] : begin[g] + count[g]]``."""
        pools, begin, count, at = [], [], [], 0
        for j, w in enumerate(self.widths):
            order = np.argsort(codes[:, j], kind="stable")
            pools.append(order)
            c = counts[j, :w].astype(np.int64)
            begin.extend((at + np.concatenate([[0], np.cumsum(c)[:-1]])).tolist())
            count.extend(c.tolist())
            at += self.n_rows
        as_t = lambda a: torch.tensor(np.asarray(a, dtype=np.int64), device=self.device)  # noqa: E731
        pool = np.concatenate(pools) if pools else np.zeros(0, dtype=np.int64)
        return as_t(pool), as_t(begin), as_t(count)

    # --- vectors ---------------------------------------------------------------------------
    def vectors(self, column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """One-hot conditional vectors ``(B, dim)`` for ``column[i]``'s ``category[i]``."""
        flat = torch.as_tensor(self.offsets, device=self.device)[column] + category
        return F.one_hot(flat, self.dim).float()

    def draw_training(self, batch: int, rng: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(cond, column, category, rows)``: training-by-sampling for ``batch`` rows."""
        if len(self.columns) == 0:
            rows = torch.randint(self.n_rows, (batch,), generator=rng, device=self.device)
            empty = torch.zeros(batch, dtype=torch.long, device=self.device)
            return torch.zeros(batch, self.dim, device=self.device), empty, empty, rows
        column = self._pick_columns(batch, rng)
        category = torch.multinomial(self.train_probs[column], 1, generator=rng).squeeze(1)
        g = torch.as_tensor(self.offsets, device=self.device)[column] + category
        u = torch.rand(batch, generator=rng, device=self.device, dtype=torch.float64)
        pick = self._begin[g] + (u * self._count[g]).long().clamp_max(self._count[g] - 1)
        return self.vectors(column, category), column, category, self._pool[pick]

    def draw_generation(self, batch: int, rng: torch.Generator
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(cond, column, category)`` with categories at the table's own frequencies."""
        if len(self.columns) == 0:
            empty = torch.zeros(batch, dtype=torch.long, device=self.device)
            return torch.zeros(batch, self.dim, device=self.device), empty, empty
        column = self._pick_columns(batch, rng)
        category = torch.multinomial(self.freq_probs[column], 1, generator=rng).squeeze(1)
        return self.vectors(column, category), column, category

    def for_rows(self, rows: torch.Tensor, rng: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(cond, column, category)`` read off given real rows (a uniformly drawn column,
        each row's own category): the conditional vectors of a plain row sample."""
        n = rows.shape[0]
        if len(self.columns) == 0:
            empty = torch.zeros(n, dtype=torch.long, device=self.device)
            return torch.zeros(n, self.dim, device=self.device), empty, empty
        column = self._pick_columns(n, rng)
        category = self.codes[rows, column]
        return self.vectors(column, category), column, category

    def fixed(self, column: int, category: int, batch: int) -> torch.Tensor:
        """``batch`` copies of the vector asking for one category (``--where``)."""
        if not (0 <= column < self.n_columns and 0 <= category < self.widths[column]
                and self.askable[column, category]):
            raise GanjobsError(f"category {category} of conditional column {column} cannot "
                               f"be asked for")
        col = torch.full((batch,), column, dtype=torch.long, device=self.device)
        cat = torch.full((batch,), category, dtype=torch.long, device=self.device)
        return self.vectors(col, cat)


def _normalise(weights: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1 (an all-zero row stays uniform over its first entry)."""
    weights = np.asarray(weights, dtype=np.float64)
    sums = weights.sum(axis=1, keepdims=True)
    out = np.divide(weights, sums, out=np.zeros_like(weights), where=sums > 0)
    out[sums[:, 0] <= 0, 0] = 1.0
    return out
