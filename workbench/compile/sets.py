"""Set data: members as numpy columns, with vectorised member -> position lookup.

String members are interned to integer codes so every column is ``int64``;
a column's *kind* (``"int"`` or ``"str"``) says how to read it back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.result import Label

__all__ = ["Interner", "LazyLabels", "SetData", "product_labels"]


class Interner:
    """Maps strings to dense ``int64`` codes and back."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self.strings: list[str] = []

    def code(self, s: str) -> int:
        """The code of *s*, creating it on first use."""
        c = self._codes.get(s)
        if c is None:
            c = len(self.strings)
            self._codes[s] = c
            self.strings.append(s)
        return c

    def lookup(self, s: str) -> int:
        """The code of *s*, or -1 if it was never interned."""
        return self._codes.get(s, -1)

    def decode(self, code: int) -> str:
        """The string for *code*."""
        return self.strings[code]


@dataclass
class SetData:
    """A compiled set.

    Attributes
    ----------
    name
        The set's name in the model.
    kinds
        ``"int"`` or ``"str"`` per component (tuple sets have several).
    cols
        One ``int64`` array per component, in member order.
    origins
        For a derived tuple set, the one-dimensional set each component was
        drawn from (``None`` where unknown); order comparisons and ``ord``
        of a component use that set's order.
    """

    name: str
    kinds: tuple[str, ...]
    cols: tuple[np.ndarray, ...]
    interner: Interner
    range_start: int | None = None
    origins: tuple[str | None, ...] | None = None
    _keys: Any = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        """Number of components of each member."""
        return len(self.kinds)

    @property
    def size(self) -> int:
        """Number of members."""
        return int(self.cols[0].shape[0]) if self.cols else 0

    def _build_keys(self) -> Any:
        uniq = [np.unique(c) for c in self.cols]
        radix = 1
        key = np.zeros(self.size, dtype=np.int64)
        for u, c in zip(reversed(uniq), reversed(self.cols)):
            key += np.searchsorted(u, c).astype(np.int64) * radix
            radix *= max(len(u), 1)
        order = np.argsort(key, kind="stable")
        self._keys = (uniq, key[order], order)
        return self._keys

    def positions(self, cols: Sequence[np.ndarray]) -> np.ndarray:
        """Positions of the given member columns in this set (``-1`` where absent).

        Parameters
        ----------
        cols
            ``dim`` arrays of equal length holding member values (codes for
            string components).
        """
        n = int(cols[0].shape[0]) if cols else 0
        if self.size == 0:
            return np.full(n, -1, dtype=np.int64)
        if self.range_start is not None:
            pos = cols[0].astype(np.int64) - self.range_start
            bad = (pos < 0) | (pos >= self.size)
            if bad.any():
                pos = np.where(bad, -1, pos)
            return pos
        uniq, sorted_keys, order = self._keys if self._keys is not None else self._build_keys()
        key = np.zeros(n, dtype=np.int64)
        ok = np.ones(n, dtype=bool)
        radix = 1
        for u, c in zip(reversed(uniq), reversed(cols)):
            idx = np.searchsorted(u, c)
            idx_c = np.minimum(idx, len(u) - 1)
            ok &= u[idx_c] == c
            key += idx_c.astype(np.int64) * radix
            radix *= max(len(u), 1)
        at = np.searchsorted(sorted_keys, key)
        at_c = np.minimum(at, len(sorted_keys) - 1)
        ok &= sorted_keys[at_c] == key
        return np.where(ok, order[at_c], -1).astype(np.int64)

    def decode(self, comp: int, value: int) -> str | int:
        """Read back one component value."""
        return self.interner.decode(int(value)) if self.kinds[comp] == "str" else int(value)

    def label(self, k: int) -> Label:
        """The member at position *k* (a tuple for tuple sets)."""
        parts = tuple(self.decode(c, int(self.cols[c][k])) for c in range(self.dim))
        return parts[0] if self.dim == 1 else parts

    def labels(self) -> list[Label]:
        """All members, in order."""
        comps: list[list[Any]] = []
        for c in range(self.dim):
            if self.kinds[c] == "str":
                strings = self.interner.strings
                comps.append([strings[v] for v in self.cols[c].tolist()])
            else:
                comps.append(self.cols[c].tolist())
        if self.dim == 1:
            return comps[0]  # type: ignore[no-any-return]
        return list(zip(*comps))


class LazyLabels(Sequence[Label]):
    """Labels of a product of sets, computed on demand (no big lists up front)."""

    def __init__(self, sets: Sequence[SetData]) -> None:
        self.sets = list(sets)
        self.sizes = [s.size for s in sets]
        self._all: list[Label] | None = None

    def __len__(self) -> int:
        return int(np.prod(self.sizes, dtype=np.int64)) if self.sizes else 1

    def _one(self, k: int) -> Label:
        parts: list[Any] = []
        for s, size in zip(reversed(self.sets), reversed(self.sizes)):
            k, r = divmod(k, size)
            lab = s.label(r)
            parts[:0] = list(lab) if isinstance(lab, tuple) else [lab]
        return parts[0] if len(parts) == 1 else tuple(parts)

    def __getitem__(self, k: int) -> Label:  # type: ignore[override]
        if self._all is not None:
            return self._all[k]
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(k)
        return self._one(k)

    def __iter__(self) -> Iterator[Label]:
        return iter(self.materialise())

    def materialise(self) -> list[Label]:
        """All labels as a list (cached)."""
        if self._all is None:
            self._all = product_labels(self.sets)
        return self._all


def product_labels(sets: Sequence[SetData]) -> list[Label]:
    """Labels of the Cartesian product of *sets*, flattened into tuples."""
    if len(sets) == 1:
        return sets[0].labels()
    import itertools

    per = [s.labels() for s in sets]
    out: list[Label] = []
    for combo in itertools.product(*per):
        flat: list[Any] = []
        for part in combo:
            flat.extend(part if isinstance(part, tuple) else (part,))
        out.append(tuple(flat))
    return out
