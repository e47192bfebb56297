"""Detection thresholds from a target false-alarm probability (SIGNALS.md §6).

All thresholds are multipliers on a noise-power estimate of square-law
(power) cells whose noise is exponential (complex Gaussian input):

* known noise, average of N independent cells: Pfa = Γ(N, N·t)/Γ(N)
  (`scipy.special.gammaincc`), so t = gammainccinv(N, Pfa)/N;
* CA-CFAR over N reference cells: α = N·(Pfa^(−1/N) − 1), Pfa = (1 + α/N)^(−N);
* OS-CFAR, k-th smallest of N reference cells: Pfa = ∏_{i<k} (N−i)/(N−i+T).
"""

from __future__ import annotations

import math

from scipy import optimize, special


def _check_pfa(pfa: float) -> None:
    if not 0.0 < pfa < 1.0:
        raise ValueError(f"pfa must be in (0, 1), got {pfa=}")


def known_noise_threshold(pfa: float, n_cells: float = 1.0) -> float:
    """Threshold on the *mean* of `n_cells` independent exponential cells, in units of the
    noise mean, for false-alarm probability `pfa` when the noise power is known.

    n_cells may be fractional (an effective number of degrees of freedom / 2).
    n_cells = 1 gives ln(1/pfa) (6.91 at 1e-3).
    """
    _check_pfa(pfa)
    if n_cells <= 0:
        raise ValueError(f"n_cells must be > 0, got {n_cells=}")
    return float(special.gammainccinv(n_cells, pfa)) / n_cells


def known_noise_pfa(threshold: float, n_cells: float = 1.0) -> float:
    """Inverse of `known_noise_threshold`: Pfa of a mean-of-cells threshold (noise mean = 1)."""
    return float(special.gammaincc(n_cells, threshold * n_cells))


def ca_cfar_alpha(n_ref: int, pfa: float) -> float:
    """CA-CFAR multiplier α on the *mean* of `n_ref` reference cells: α = N(Pfa^(−1/N) − 1).

    N = 16, Pfa = 1e-3 gives 8.64 (SIGNALS.md §6 table).
    """
    _check_pfa(pfa)
    if n_ref < 1:
        raise ValueError(f"n_ref must be >= 1, got {n_ref=}")
    return float(n_ref * (pfa ** (-1.0 / n_ref) - 1.0))


def ca_cfar_pfa(alpha: float, n_ref: int) -> float:
    """Pfa of CA-CFAR with multiplier `alpha` on the mean of `n_ref` cells: (1 + α/N)^(−N)."""
    return float((1.0 + alpha / n_ref) ** (-n_ref))


def os_cfar_pfa(scale: float, n_ref: int, k: int) -> float:
    """Pfa of OS-CFAR with threshold `scale` × (k-th smallest of `n_ref` cells)."""
    if not 1 <= k <= n_ref:
        raise ValueError(f"need 1 <= k <= n_ref, got {k=}, {n_ref=}")
    log_pfa = sum(math.log((n_ref - i) / (n_ref - i + scale)) for i in range(k))
    return math.exp(log_pfa)


def os_cfar_scale(n_ref: int, k: int, pfa: float) -> float:
    """OS-CFAR multiplier T on the k-th ordered reference cell for a target `pfa`.

    N = 16, k = 12, Pfa = 1e-3 gives 7.42 (SIGNALS.md §6 table).
    """
    _check_pfa(pfa)
    if not 1 <= k <= n_ref:
        raise ValueError(f"need 1 <= k <= n_ref, got {k=}, {n_ref=}")
    target = math.log(pfa)

    def excess(scale: float) -> float:
        return math.log(os_cfar_pfa(scale, n_ref, k)) - target

    upper = 1.0
    while excess(upper) > 0.0:
        upper *= 2.0
    return float(optimize.brentq(excess, 0.0, upper, xtol=1e-10))


def exponential_quantile(q: float) -> float:
    """q-quantile of a unit-mean exponential cell: −ln(1 − q). Divide an order statistic
    of noise-only power cells by this to estimate the noise mean."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q=}")
    return -math.log1p(-q)
