"""Pure statistics for split branches and control groups (no database, no Django).

Conversion rates are proportions x / n. Intervals are 95% unless `z` says otherwise:
Wilson's score interval for one rate (well-behaved at 0 and at small n, unlike Wald's),
the unpooled normal interval for a difference of two rates (the lift), and the pooled
two-proportion z-test for "is this difference more than chance".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """B against A: rates, the difference B − A with its interval, the test's p-value."""

    rate_a: float
    rate_b: float
    difference: Interval
    lift: float | None  # (B − A) / A, None when A converts nobody
    z: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def rate(successes: int, n: int) -> float:
    return successes / n if n else 0.0


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval:
    if n <= 0:
        return Interval(0.0, 0.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_z_test(x_a: int, n_a: int, x_b: int, n_b: int) -> tuple[float, float]:
    """(z, two-sided p-value) of H0: both groups convert at the same rate (pooled SE)."""
    if n_a <= 0 or n_b <= 0:
        return 0.0, 1.0
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 0.0, 1.0
    z = (x_b / n_b - x_a / n_a) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def difference_interval(x_a: int, n_a: int, x_b: int, n_b: int, z: float = Z95) -> Interval:
    """Normal (unpooled) interval of rate_b − rate_a."""
    if n_a <= 0 or n_b <= 0:
        return Interval(0.0, 0.0)
    p_a, p_b = x_a / n_a, x_b / n_b
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    return Interval(p_b - p_a - z * se, p_b - p_a + z * se)


def compare(x_a: int, n_a: int, x_b: int, n_b: int) -> Comparison:
    """Group B (a branch, the treated) against group A (the first branch, the control)."""
    z, p_value = two_proportion_z_test(x_a, n_a, x_b, n_b)
    p_a, p_b = rate(x_a, n_a), rate(x_b, n_b)
    return Comparison(
        rate_a=p_a, rate_b=p_b, difference=difference_interval(x_a, n_a, x_b, n_b),
        lift=(p_b - p_a) / p_a if p_a else None, z=z, p_value=p_value,
    )
