"""Which values of a segment key (country, device, customer tier...) get monitors of their own: the heaviest k.

A segment key can have a handful of values or a million (user ids). Monitoring each would be unbounded,
so only the k heaviest recent values are *tracked*; every other value maps to ``OTHER`` and shares its
monitors. Counting is a Misra-Gries summary of at most ``capacity`` values with exponentially decayed
counts (half-life ``half_life`` values), so memory is bounded whatever the number of distinct values
and a value that stops appearing fades out.

Decisions are taken every ``every`` values, at exact positions of the stream and never at batch
edges, so any cutting of the stream into batches (and a restart from a snapshot) maps every value
the same way. Slots are sticky: a tracked value keeps its slot until its count falls below
``min_count / hysteresis``, or a newcomer's count exceeds ``hysteresis`` times its own while it is
the weakest tracked value. Two values of equal share therefore never take turns in a slot, and
monitors are not created and dropped over and over.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from itertools import repeat

import numpy as np

OTHER = "other"


class TopK:
    """The at most ``k`` heaviest recent values of a stream of strings, with sticky slots.

    :meth:`update` feeds one batch and returns it mapped: each value itself if tracked when it came,
    else ``OTHER``. :meth:`evicted` names the values that lost their slot during the last update (drop
    their monitors); ``tracked`` lists the values holding a slot now. The string ``OTHER`` itself is
    never tracked: it is the pool's name.

    Parameters
    ----------
    k
        Most values tracked at once.
    min_count
        Decayed count a value needs to get a slot; a tracked value keeps it down to
        ``min_count / hysteresis``. At a steady share s a value's count is about
        1.44 * half_life * s (1.44 = 1 / ln 2).
    half_life
        Values after which a count has halved: the memory of the counts.
    every
        Values between two decisions on the slots.
    hysteresis
        How clearly (ratio of counts) a newcomer must beat the weakest tracked value to take its slot.
    capacity
        Values counted at once (default ``max(10 * k, 100)``). Misra-Gries underestimates a count by at
        most the decayed total over ``capacity + 1``; in practice far less.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> countries = rng.choice(["fr", "de", "it", "es"], size=5000, p=[0.5, 0.3, 0.15, 0.05])
    >>> top = TopK(k=2, min_count=100)
    >>> mapped = top.update(countries.tolist())
    >>> top.tracked
    ('fr', 'de')
    >>> mapped[:8]
    ['other', 'other', 'other', 'other', 'other', 'other', 'other', 'other']
    >>> sorted(set(mapped[-1000:]))
    ['de', 'fr', 'other']
    """

    def __init__(self, k: int = 20, *, min_count: float = 100.0, half_life: int = 50_000, every: int = 1_000,
                 hysteresis: float = 1.5, capacity: int | None = None):
        self.k = _positive_int("k", k, 20)
        self.min_count = _positive_float("min_count", min_count, 100.0)
        self.half_life = _positive_int("half_life", half_life, 50_000)
        self.every = _positive_int("every", every, 1_000)
        if isinstance(hysteresis, bool) or not isinstance(hysteresis, (int, float)) or not (
                1.0 <= hysteresis < math.inf):
            raise ValueError(f"TopK: hysteresis={hysteresis!r} is invalid; hysteresis must be a finite number >= 1 "
                             f"(for example hysteresis=1.5)")
        self.hysteresis = float(hysteresis)
        self.capacity = max(10 * self.k, 100) if capacity is None else _positive_int("capacity", capacity, 200)
        if self.capacity < self.k:
            raise ValueError(f"TopK: capacity={capacity!r} is invalid; capacity must be >= k={self.k} "
                             f"(for example capacity={10 * self.k})")
        self._decay = 0.5 ** (self.every / self.half_life)
        self._counts: dict[str, float] = {}      # the Misra-Gries summary, decayed at each decision
        self._pending: Counter[str] = Counter()   # exact counts since the last decision
        self._seen = 0                           # values since the last decision
        self._slots: list[str] = []              # tracked values, in slot order
        self._evicted: list[str] = []

    @property
    def tracked(self) -> tuple[str, ...]:
        """The values holding a slot, in slot order (a freed slot goes to the value that takes it)."""
        return tuple(self._slots)

    def count(self, value: str) -> float:
        """The decayed count of ``value`` at the last decision (0 when not counted)."""
        return self._counts.get(value, 0.0)

    def evicted(self) -> list[str]:
        """Values tracked before the last :meth:`update` and not after it, in slot order."""
        return list(self._evicted)

    def update(self, values: Iterable[str]) -> list[str]:
        """Count a batch in stream order; return each value, or ``OTHER`` if it had no slot when it came."""
        values = list(map(str, values))
        before = list(self._slots)
        mapped: list[str] = []
        start = 0
        while start < len(values):
            end = start + min(self.every - self._seen, len(values) - start)
            chunk = values[start:end]
            slots = dict(zip(self._slots, self._slots))
            mapped += map(slots.get, chunk, repeat(OTHER))
            self._pending.update(chunk)
            self._seen += end - start
            if self._seen == self.every:
                self._decide()
            start = end
        kept = set(self._slots)
        self._evicted = [v for v in before if v not in kept]
        return mapped

    def _decide(self) -> None:
        self._merge()
        self._reslot()
        self._pending = Counter()
        self._seen = 0

    def _merge(self) -> None:
        """Decay the summary, add the exact counts since the last decision, cut back to capacity (Misra-Gries:
        every count loses the (capacity + 1)-th largest, so ties at the cut leave together, in no order)."""
        decay = self._decay
        merged = {v: c * decay for v, c in self._counts.items()}
        for value, n in self._pending.items():
            merged[value] = merged.get(value, 0.0) + n
        if len(merged) > self.capacity:
            counts = np.fromiter(merged.values(), dtype=np.float64, count=len(merged))
            cut = float(np.partition(counts, len(counts) - self.capacity - 1)[len(counts) - self.capacity - 1])
            merged = {v: c - cut for v, c in merged.items() if c > cut}
        self._counts = merged

    def _reslot(self) -> None:
        count = self.count
        slots = [v if count(v) >= self.min_count / self.hysteresis else None for v in self._slots]
        holders = {v for v in slots if v is not None}
        newcomers = sorted((v for v, c in self._counts.items()
                            if c >= self.min_count and v not in holders and v != OTHER),
                           key=lambda v: (-self._counts[v], v))
        queue = iter(newcomers)
        # Free slots (and the slots of values that faded) first, keeping slot positions.
        for i, holder in enumerate(slots):
            if holder is None:
                slots[i] = next(queue, None)
        while len(slots) < self.k and (value := next(queue, None)) is not None:
            slots.append(value)
        slots = [v for v in slots if v is not None]
        # Then the heaviest remaining newcomers against the weakest holders, while clearly heavier.
        weakest = sorted(range(len(slots)), key=lambda i: (count(slots[i]), slots[i]))
        for i, value in zip(weakest, queue):
            if count(value) <= self.hysteresis * count(slots[i]):
                break
            slots[i] = value
        self._slots = slots

    def state(self) -> dict:
        return {"counts": list(self._counts.items()), "pending": list(self._pending.items()), "seen": self._seen,
                "slots": list(self._slots), "evicted": list(self._evicted)}

    def load(self, state: dict) -> None:
        """Continues exactly; if k has shrunk since the snapshot, the lightest holders lose their slots."""
        self._counts = dict(state["counts"])
        self._pending = Counter(dict(state["pending"]))
        self._seen = min(state["seen"], self.every - 1)
        slots = list(state["slots"])
        keep = set(sorted(slots, key=lambda v: (-self.count(v), v))[:self.k])
        self._slots = [v for v in slots if v in keep]
        self._evicted = [*state["evicted"], *(v for v in slots if v not in keep)]


def _positive_int(name: str, value, example) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"TopK: {name}={value!r} is invalid; {name} must be an integer >= 1 "
                         f"(for example {name}={example})")
    return int(value)


def _positive_float(name: str, value, example) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"TopK: {name}={value!r} is invalid; {name} must be a finite number > 0 "
                         f"(for example {name}={example})")
    return float(value)

