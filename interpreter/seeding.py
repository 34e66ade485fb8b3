"""One seeding recipe for every random draw: the spec's (or an option's) seed, whole, as numpy
`SeedSequence` entropy, with words that say which draw it is. No seed is cut to 32 bits: seeds that
differ only above bit 32 draw differently. APIs that take a bounded integer get one from the recipe
(`seed32` for scikit-learn and `RandomState`, `seed63` for `torch.manual_seed`), which is the seed
itself whenever it fits, so the draws of every ordinary seed are those abl always made.

Standard deviations: abl reports the sample standard deviation (`ddof=1`, `SD`) everywhere, of
repeated random draws, seeds or per-image differences alike."""

from __future__ import annotations

SD_DDOF = 1


def seed_sequence(seed: int, *words: int):
    import numpy as np

    return np.random.SeedSequence([int(seed), *(int(w) for w in words)])


def generator(seed: int, *words: int):
    """A numpy Generator for the draw named by (seed, *words)."""
    import numpy as np

    return np.random.default_rng(seed_sequence(seed, *words))


def seed32(seed: int) -> int:
    """A seed in [0, 2**32) for APIs that take no more: the seed itself when it fits, else a
    word drawn from the whole seed."""
    seed = int(seed)
    return seed if 0 <= seed < 2 ** 32 else int(seed_sequence(seed).generate_state(1)[0])


def seed63(seed: int) -> int:
    """A seed in [0, 2**63) for `torch.manual_seed`: the seed itself when it fits, else 63 bits
    drawn from the whole seed."""
    import numpy as np

    seed = int(seed)
    if 0 <= seed < 2 ** 63:
        return seed
    return int(seed_sequence(seed).generate_state(1, np.uint64)[0]) >> 1


def sd(values) -> float:
    """The sample standard deviation (ddof=1) of two or more values; 0.0 for fewer."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=SD_DDOF)) if values.size > 1 else 0.0
