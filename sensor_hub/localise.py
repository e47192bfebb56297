"""Where an intruder is: RSSI multilateration, acoustic bearing intersection (pure math).

Coordinates are site-local metres: x east, y north, z up. Azimuths are degrees clockwise
from +y (north) toward +x (east), as `detectors.bearing` reports them.

**RSSI multilateration.** Sensor i at p_i hears a transmitter at q with

    rssi_i = P0 − 10·n·log10(|q − p_i| / 1 m) + e_i,     e_i ~ N(0, σ_i²)

(log-distance path loss, site exponent n; P0 folds in the unknown EIRP and antenna
gains). For a trial position q the best P0 is the weighted mean of rssi_i + 10·n·log10 d_i,
which leaves a weighted sum of squares over (x, y) alone; it is minimised from the best
local minima of a coarse grid around the sensors, each refined by Gauss-Newton over
(x, y, P0) (`scipy.optimize.least_squares`). With P0 unknown, RSSI fixes only ratios of
distances (Apollonius circles), and even four sensors on a rectangle admit an exact
far-away twin solution. A prior on P0 (the signature's nominal EIRP) tells them apart;
without one, of the fits as good as the best the one nearest the sensors is kept. The
transmitter height is not observable from a few ground sensors and is assumed (a drone's
typical altitude, a handset's floor).

Uncertainty: the covariance of (x, y) is (JᵀWJ)⁻¹ at the solution, inflated by the
reduced chi-square when the residuals are larger than σ says (walls, multipath); the
reported radius is √(χ²₂(0.95) · λ_max) = 2.45·σ_major, which holds the true position at
least 95 % of the time under the linearised model (80-90 % in the tests with 0.5 dB of
RSSI noise, where log-distance is far from linear). Three sensors determine
the three unknowns exactly (no residual to check the model with): the radius then comes
from σ alone.

**Bearing intersection.** Each bearing is a line through its array; the point that
minimises the weighted squared perpendicular distances to all lines (weights 1/(r·σ_θ)²
with r the current range, iterated three times) is the estimate; two nearly parallel bearings
give no fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

F64 = NDArray[np.float64]

#: √χ²₂(0.95): a 2-D Gaussian's 95 % circle in units of its major-axis σ
RADIUS_95 = math.sqrt(-2.0 * math.log(0.05))

Point2 = tuple[float, float]


@dataclass(frozen=True, slots=True)
class RssiObservation:
    """One sensor's received power for one emitter: position (m) and rssi (dBm)."""

    x_m: float
    y_m: float
    z_m: float
    rssi_dbm: float
    sigma_db: float = 3.0  # the observation's standard deviation (fading, model error)


@dataclass(frozen=True, slots=True)
class BearingObservation:
    """One array's direction of arrival: position (m), azimuth and its sd (degrees)."""

    x_m: float
    y_m: float
    azimuth_deg: float
    sigma_deg: float = 5.0


@dataclass(frozen=True, slots=True)
class Fix:
    """An estimated position and the radius (m) that holds the truth ~95 % of the time."""

    x_m: float
    y_m: float
    radius_m: float
    method: str  # "rssi", "bearings", "sensor"
    sensors: int


def _rssi_residuals(
    params: F64, p: F64, rssi: F64, w_sqrt: F64, z_m: float, exponent: float,
    prior: tuple[float, float] | None, z_sigma_m: float | None,
) -> F64:  # fmt: skip
    """Weighted residuals over (x, y, P0) or, with z_sigma_m, (x, y, P0, z) with z ~ z_m."""
    x, y, p0 = params[:3]
    z = params[3] if z_sigma_m is not None else z_m
    d = np.sqrt((x - p[:, 0]) ** 2 + (y - p[:, 1]) ** 2 + (z - p[:, 2]) ** 2)
    r = w_sqrt * (rssi - p0 + 10.0 * exponent * np.log10(np.maximum(d, 1.0)))
    extra = []
    if prior is not None:
        extra.append((p0 - prior[0]) / prior[1])
    if z_sigma_m is not None:
        extra.append((z - z_m) / z_sigma_m)
    return np.asarray(np.append(r, extra))


def _grid_starts(
    p: F64, rssi: F64, w: F64, z_m: float, exponent: float, reach_m: float,
    prior: tuple[float, float] | None, count: int = 6,
) -> list[F64]:  # fmt: skip
    """The best (x, y, P0) local minima of a 61 × 61 grid over the sensors' box grown by
    reach_m, best first. RSSI with an unknown P0 fixes only ratios of distances: with few
    sensors two far-apart points can fit almost equally well, so each is refined."""
    lo = p[:, :2].min(axis=0) - reach_m
    hi = p[:, :2].max(axis=0) + reach_m
    gx = np.linspace(lo[0], hi[0], 61)
    gy = np.linspace(lo[1], hi[1], 61)
    qx, qy = np.meshgrid(gx, gy, indexing="ij")
    d = np.sqrt(
        (qx[..., None] - p[:, 0]) ** 2 + (qy[..., None] - p[:, 1]) ** 2 + (z_m - p[:, 2]) ** 2
    )
    a = rssi + 10.0 * exponent * np.log10(np.maximum(d, 1.0))  # each = P0 when consistent
    p0 = (a * w).sum(axis=-1) / w.sum()
    cost = (w * (a - p0[..., None]) ** 2).sum(axis=-1)
    if prior is not None:
        cost += ((p0 - prior[0]) / prior[1]) ** 2
    padded = np.pad(cost, 1, constant_values=np.inf)
    neighbours = np.min(
        [padded[1 + di : 62 + di, 1 + dj : 62 + dj]
         for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj],
        axis=0,
    )  # fmt: skip
    minima = np.flatnonzero((cost <= neighbours).ravel())
    best = minima[np.argsort(cost.ravel()[minima])][:count]
    return [np.array([qx.flat[k], qy.flat[k], p0.flat[k]]) for k in best]


def rssi_fix(
    observations: Sequence[RssiObservation],
    *,
    exponent: float = 2.0,
    z_m: float = 30.0,
    reach_m: float = 500.0,
    max_radius_m: float = 2000.0,
    p0_dbm: float | None = None,
    p0_sigma_db: float = 6.0,
    z_sigma_m: float | None = None,
) -> Fix | None:
    """Multilaterate one emitter from three or more sensors' RSSI; None with fewer.

    exponent: the site's path-loss exponent (2 in free space, 2.5-4 among buildings);
    z_m: the assumed emitter height; reach_m: how far outside the sensors' hull to look;
    p0_dbm, p0_sigma_db: a prior on P0 (the signature's nominal EIRP less the path loss
    at 1 m), which tells the Apollonius twins apart; z_sigma_m: estimate the height too,
    with z_m ± z_sigma_m as its prior (a drone 60 m up over a sensor is 30 m further from
    it than one at 30 m: the height matters close in).
    """
    if len(observations) < 3:
        return None
    p = np.array([(o.x_m, o.y_m, o.z_m) for o in observations], dtype=np.float64)
    rssi = np.array([o.rssi_dbm for o in observations], dtype=np.float64)
    sigma = np.array([max(o.sigma_db, 0.1) for o in observations], dtype=np.float64)
    w = 1.0 / sigma**2
    dof = len(observations) - 3 + (p0_dbm is not None)
    prior = None if p0_dbm is None else (p0_dbm, max(p0_sigma_db, 0.1))
    args = (p, rssi, np.sqrt(w), z_m, exponent, prior, z_sigma_m)
    starts = _grid_starts(p, rssi, w, z_m, exponent, reach_m, prior)
    if z_sigma_m is not None:
        starts = [np.append(x0, z_m) for x0 in starts]
    sols = [
        least_squares(_rssi_residuals, start, args=args, method="lm" if dof > 0 else "trf")
        for start in starts
    ]
    costs = [float(np.sum(r.fun**2)) for r in sols]
    # with no prior on P0, of the fits as good as the best (Δχ² < 1) the one nearest the
    # sensors: intruders come to the site, and an Apollonius twin often lies away from it
    centre = p[:, :2].mean(axis=0)
    tie = 0.0 if prior is not None else 1.0
    sol = min(
        (r for r, c in zip(sols, costs, strict=True) if c <= min(costs) + tie),
        key=lambda r: float(np.hypot(*(r.x[:2] - centre))),
    )
    x, y = sol.x[:2]
    jac = sol.jac
    chi2 = float(np.sum(sol.fun**2))
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    try:
        cov = np.linalg.inv(jac.T @ jac)[:2, :2] * scale
        major = float(np.max(np.linalg.eigvalsh(cov)))
        radius = RADIUS_95 * math.sqrt(max(major, 0.0))
    except np.linalg.LinAlgError:  # collinear sensors: the position is not determined
        radius = max_radius_m
    if not math.isfinite(radius):
        radius = max_radius_m
    return Fix(float(x), float(y), min(max(radius, 1.0), max_radius_m), "rssi", len(observations))


def bearing_fix(
    observations: Sequence[BearingObservation],
    *,
    min_crossing_deg: float = 10.0,
    max_range_m: float = 3000.0,
    max_radius_m: float = 2000.0,
) -> Fix | None:
    """Intersect two or more acoustic bearings; None when they do not cross usefully
    (fewer than two, or every pair within min_crossing_deg of parallel, or the crossing
    behind an array or beyond max_range_m)."""
    if len(observations) < 2:
        return None
    p = np.array([(o.x_m, o.y_m) for o in observations], dtype=np.float64)
    az = np.radians([o.azimuth_deg for o in observations])
    u = np.stack([np.sin(az), np.cos(az)], axis=1)  # unit direction: clockwise from north
    crossing = np.degrees(np.arccos(np.clip(np.abs(u @ u.T), 0.0, 1.0)))
    if float(np.max(crossing)) < min_crossing_deg:
        return None
    normal = np.stack([u[:, 1], -u[:, 0]], axis=1)  # n·q = n·p_i on line i
    sig = np.radians([max(o.sigma_deg, 0.1) for o in observations])
    rng = np.full(len(p), 100.0)
    q = p.mean(axis=0)
    for _ in range(3):  # perpendicular error ≈ range × angular error: reweight by range
        w = 1.0 / (rng * sig) ** 2
        a = (normal * w[:, None]).T @ normal
        b = (normal * w[:, None]).T @ np.sum(normal * p, axis=1)
        try:
            q = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            return None
        along = np.sum((q - p) * u, axis=1)
        if np.any(along <= 0.0) or float(np.max(along)) > max_range_m:
            return None  # behind an array (the lines cross, the rays do not), or too far
        rng = np.maximum(along, 1.0)
    cov = np.linalg.inv((normal * (1.0 / (rng * sig) ** 2)[:, None]).T @ normal)
    radius = RADIUS_95 * math.sqrt(float(np.max(np.linalg.eigvalsh(cov))))
    return Fix(float(q[0]), float(q[1]), min(max(radius, 1.0), max_radius_m), "bearings",
               len(observations))  # fmt: skip


def point_in_polygon(x: float, y: float, polygon: Sequence[Point2]) -> bool:
    """Even-odd rule; points on an edge count as inside for the lower and left edges."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            t = (y - y1) / (y2 - y1)
            if x < x1 + t * (x2 - x1):
                inside = not inside
    return inside


def polygon_area(polygon: Sequence[Point2]) -> float:
    s = 0.0
    for i in range(len(polygon)):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % len(polygon)]
        s += x1 * y2 - x2 * y1
    return abs(0.5 * s)


def smallest_containing(x: float, y: float, areas: Mapping[str, Sequence[Point2]]) -> str | None:
    """The name of the smallest polygon holding (x, y) (a cell inside a block inside a
    yard), or None."""
    best: tuple[float, str] | None = None
    for name, poly in areas.items():
        if len(poly) >= 3 and point_in_polygon(x, y, poly):
            area = polygon_area(poly)
            if best is None or area < best[0]:
                best = (area, name)
    return best[1] if best is not None else None
