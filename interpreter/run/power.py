"""Power, by resampling simulation from a run's own per-image values (or control draws).

The run's values stand in for the truth: a simulated study draws n of them with replacement and
applies the claim's test at the level the claim is decided at (its Holm step level). For claims
over images the simulated test is the one-sided one-sample t-test of the resampled values
against the boundary — the large-sample equivalent of the permutation and bootstrap tests, and
cheap enough to simulate. With the resamples fixed, a shift of every value by delta moves each
simulated t by delta only, so the power at any effect, and the minimum detectable effect (the
effect above the boundary with 80% power) are read off one set of simulations. The n needed for
80% power at the observed effect is searched by simulation up to `SIMULATED_N`, beyond which the
normal approximation ((z_(1-a) + z_0.8) sd / effect)^2 is given. A random control is simulated
by resampling its draws (and the targeted value's images, when it has them) and applying its
rank test; its n is the number of draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from abl.interpreter.run.statistics import stats
from abl.interpreter.run.claim_tests import largest_count

TARGET = 0.8
SIMULATIONS = 400
SIMULATED_N = 20_000
MAX_DRAWS = 20_000          # control draws searched
_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class Power:
    power: float               # at the run's n and boundary, for the observed effect
    n: int                     # images, or control draws
    unit: str                  # "images" | "draws"
    alpha: float               # the level simulated (the claim's decision level)
    mde: float | None          # effect above the boundary detected with 80% power at n (images)
    n_needed: int | None       # for 80% power at the observed effect; None: no n reaches it
    method: str
    approximate: bool = False  # n_needed from the normal approximation (beyond SIMULATED_N)

    @property
    def underpowered(self) -> bool:
        return self.power < TARGET

    def as_record(self) -> dict:
        return {"power": self.power, "n": self.n, "unit": self.unit, "alpha": self.alpha,
                "target": TARGET, "minimum_detectable_effect": self.mde, "n_for_80_percent": self.n_needed,
                "n_approximate": self.approximate, "method": self.method}

    def line(self) -> str:
        """`power 0.31 at n = 54; about 220 images needed`."""
        if self.n_needed is None:
            needed = f"no number of {self.unit} reaches {TARGET:.0%} at the observed effect"
        else:
            needed = f"about {self.n_needed} {self.unit} needed"
        mde = f"; detectable at n = {self.n}: effect {self.mde:.3g}" if self.mde is not None else ""
        return f"power {self.power:.2f} at n = {self.n}; {needed}{mde}"


def _q(values: np.ndarray, margin: float, sign: float, alpha: float, n: int, sims: int,
       rng: np.random.Generator) -> np.ndarray:
    """Per simulation, the smallest effect above the boundary that its t-test would detect:
    reject when effect > q (the resampled deviation from the sample mean is kept, the mean moved)."""
    x = np.asarray(values, dtype=np.float64)
    deviations = x - x.mean()
    crit = float(stats.t.ppf(1 - alpha, max(n - 1, 1)))
    out = []
    batch = max(1, _ELEMENTS // max(n, 1))
    for start in range(0, sims, batch):
        draws = deviations[rng.integers(0, x.size, size=(min(batch, sims - start), n))]
        mean = draws.mean(axis=1)
        sd = draws.std(axis=1, ddof=1) if n > 1 else np.zeros(len(draws))
        out.append(crit * sd / math.sqrt(n) - sign * mean)
    return np.concatenate(out)


def image_power(values: np.ndarray, margin: float, side: str, alpha: float, seed_rng,
                sims: int = SIMULATIONS) -> Power:
    """`seed_rng(tag)` gives the generator of one simulation batch (tags: n)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    sign = 1.0 if side == "greater" else -1.0
    effect = sign * (float(x.mean()) - margin)          # on the claim's side when positive
    n = int(x.size)
    q = _q(x, margin, sign, alpha, n, sims, seed_rng(n))
    power = float(np.mean(effect > q))
    mde = float(np.quantile(q, TARGET)) if n > 1 else None
    needed, approximate = _n_needed(x, margin, sign, alpha, effect, sims, seed_rng)
    return Power(power, n, "images", alpha, mde, needed, "resampling simulation (one-sided t-test)", approximate)


def _n_needed(x, margin, sign, alpha, effect, sims, seed_rng) -> tuple[int | None, bool]:
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    if not effect > 0:
        return None, False
    if sd == 0:
        return 2, False

    def power_at(n: int) -> float:
        return float(np.mean(effect > _q(x, margin, sign, alpha, n, sims, seed_rng(n))))

    guess = ((stats.norm.ppf(1 - alpha) + stats.norm.ppf(TARGET)) * sd / effect) ** 2
    if guess > SIMULATED_N:
        return int(math.ceil(guess)), True
    low, high = 2, max(4, int(guess))
    while power_at(high) < TARGET:
        low, high = high, high * 2
        if high > SIMULATED_N:
            return int(math.ceil(guess)), True
    while high - low > max(1, low // 50):       # to within 2%
        middle = (low + high) // 2
        if power_at(middle) >= TARGET:
            high = middle
        else:
            low = middle
    return high, False


def control_power(observed_images: np.ndarray | None, observed: float, controls: np.ndarray, side: str,
                  alpha: float, rng: np.random.Generator, sims: int = SIMULATIONS) -> Power:
    """A random control's rank test simulated: the targeted value resampled over its images (or
    kept), the control draws resampled; the n needed is in draws (the targeted value's images
    fixed)."""
    c = np.asarray(controls, dtype=np.float64).reshape(-1)
    if observed_images is not None and np.asarray(observed_images).size > 1:
        x = np.asarray(observed_images, dtype=np.float64).reshape(-1)
        targets = x[rng.integers(0, x.size, size=(sims, x.size))].mean(axis=1) - x.mean() + observed
    else:
        targets = np.full(sims, observed)

    def power_at(draws: int) -> float:
        k = largest_count(alpha, draws)
        if k < 0:
            return 0.0
        hits = 0
        batch = max(1, _ELEMENTS // draws)
        for start in range(0, sims, batch):
            target = targets[start:start + batch, None]
            sample = c[rng.integers(0, c.size, size=(len(target), draws))]
            extreme = np.sum(sample >= target if side == "greater" else sample <= target, axis=1)
            hits += int(np.sum(extreme <= k))
        return hits / sims

    # with endless draws the test rejects when the share of controls beyond the target is below
    # alpha: when that happens in fewer than 80% of the simulated studies, no number of draws helps
    beyond = np.mean(c[None, :] >= targets[:, None] if side == "greater" else c[None, :] <= targets[:, None], axis=1)
    power = power_at(c.size)
    needed = None
    if power >= TARGET:
        needed = c.size
    elif np.mean(beyond < alpha) >= TARGET:
        low, high = c.size, max(c.size, int(math.ceil(1 / alpha)))
        while high <= MAX_DRAWS and power_at(high) < TARGET:
            low, high = high, high * 2
        if high <= MAX_DRAWS:
            while high - low > max(1, low // 50):
                middle = (low + high) // 2
                if power_at(middle) >= TARGET:
                    high = middle
                else:
                    low = middle
            needed = high
    return Power(power, int(c.size), "draws", alpha, None, needed,
                 "resampling simulation (the control's rank test)")
