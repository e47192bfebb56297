"""RF detector quality: `detect_rf` against the simulator's ground truth.

    python bench/rf_quality.py [--quick] [--trials 50] [--signatures dji_droneid gsm_uplink ...]

1. Sensitivity: per drone / handset signature, Pd vs per-burst in-band SNR (1 dB steps,
   one burst per snapshot, the same noise and burst at every SNR of a trial), the SNR at
   Pd 0.9 next to the ideal energy detector's for Pfa 1e-3 and N = duration x bandwidth
   (SIGNALS.md §6, exact chi-squared, Gaussian-like signal). Pass: within 3 dB. An
   oracle (that ideal detector, told where the burst is, on the same samples) checks
   that the SNR scale is right.
2. Classification: snapshots as the sensor hears the emitter (all its bursts), reference
   burst SNR drawn in 10-30 dB (even trials) or -5-10 dB (odd trials); detections whose
   true burst is at >= 10 dB: confusion matrix and accuracy. Target: >= 95 % right.
3. Confidence calibration: every detection of part 2 and of part 4 by reported confidence.
4. False alarms: noise-only snapshots (`include_signals=False`) at the same sensors.

A detection counts for a burst when their time spans overlap and their frequency spans
[f - B/2, f + B/2] overlap (a hopping group with several bursts: when its centre lies
within the span of the true bursts it overlaps in time). Part 2 also gives a detection in
a burst's skirts to that burst (bands widened by `CLASS_WIDEN` x B). In-band SNR is defined in
`bench/rf_cases.py`. Seeds are fixed: two runs with the same arguments print the same.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402  (the thread limits must be set before numpy is imported)
import datetime  # noqa: E402
import math  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rf_cases import C64, CASES, Case, Trial, Truth  # noqa: E402
from scipy import optimize, special  # noqa: E402

from detectors.floor_track import FloorTrack  # noqa: E402
from detectors.rf import RfDetection, detect_rf  # noqa: E402

PFA = 1e-3
PD = 0.9
MAX_GAP_DB = 3.0
CLASS_MIN_SNR_DB = 10.0
CLASS_TARGET = 0.95
#: classification counts a detection in a true burst's skirts (splatter, switching
#: transients, which carry its label) as that burst's: each band is widened by this x B
CLASS_WIDEN = 0.25
REPO = Path(__file__).resolve().parent.parent

ABBREV = {
    "dji_droneid": "dID", "dji_ocusync_video": "ocu", "elrs_2g4": "elrs", "elrs_900": "e900",
    "frsky_d16": "frsky", "fpv_analog_video": "fpv", "wifi_drone": "wdrn", "gsm_uplink": "gsm",
    "lte_uplink": "lte", "lte_prach": "prach", "wifi_probe": "probe", "ble_adv": "ble",
    "wifi_ap": "wifi", "microwave_oven": "oven", "tetra": "tetra", "dmr": "dmr",
    "cellular_downlink": "dl", "unknown_burst": "unk",
}  # fmt: skip


# ---------------------------------------------------------------- reference and matching


def ideal_snr_db(n_samples: float, pfa: float = PFA, pd: float = PD) -> float:
    """Per-sample SNR (dB) at which the ideal energy detector over n_samples complex
    samples with known noise reaches `pd` at `pfa` (SIGNALS.md §6, Gaussian-like signal):
    Pfa = Γ(N, γ)/Γ(N), Pd = Γ(N, γ/(1+s))/Γ(N)."""
    gamma = float(special.gammainccinv(n_samples, pfa))
    s = optimize.brentq(lambda s: special.gammaincc(n_samples, gamma / (1 + s)) - pd, 1e-9, 1e4)
    return 10.0 * math.log10(s)


def _overlap(a_lo: float, a_hi: float, b_lo: float, b_hi: float) -> bool:
    return a_lo < b_hi and b_lo < a_hi


def match(d: RfDetection, truths: Sequence[Truth], widen: float = 0.0) -> Truth | None:
    """The strongest true burst `d` overlaps in time and frequency (see module doc); each
    true band is first widened by `widen` x its bandwidth on both sides."""
    in_time = [t for t in truths if _overlap(d.t_start_s, d.t_end_s, t.t_start_s, t.t_end_s)]
    lo, hi = d.freq_hz - 0.5 * d.bandwidth_hz, d.freq_hz + 0.5 * d.bandwidth_hz
    hits = [
        t
        for t in in_time
        if _overlap(
            lo, hi, t.freq_lo_hz - widen * t.bandwidth_hz, t.freq_hi_hz + widen * t.bandwidth_hz
        )
    ]
    if not hits and d.burst_count > 1 and in_time:
        span_lo = min(t.freq_lo_hz for t in in_time)
        span_hi = max(t.freq_hi_hz for t in in_time)
        hits = in_time if span_lo <= d.freq_hz <= span_hi else []
    return max(hits, key=lambda t: t.power) if hits else None


def covers(d: RfDetection, ref: Truth) -> bool:
    """Whether matched detection `d` accounts for burst `ref`: it overlaps it, or it groups
    several bursts over a time span holding `ref` (its centre is their median)."""
    in_time = _overlap(d.t_start_s, d.t_end_s, ref.t_start_s, ref.t_end_s)
    return in_time and (d.burst_count > 1 or match(d, (ref,), CLASS_WIDEN) is not None)


def snapshot(case: Case, trial: Trial, noise: C64, snr_db: float) -> tuple[C64, float]:
    """Noise plus the trial's signal with its reference burst at `snr_db`; the amplitude."""
    a = trial.amplitude_for(snr_db, case.noise_power, case.sample_rate_hz)
    return noise + np.complex64(a) * trial.signal, a


#: noise-only snapshots a sensor has sent before a continuous emitter comes on: its
#: receiver-shape reference (`detectors.floor_track`) is learnt from them
HISTORY_SNAPSHOTS = 16
_tracks: dict[tuple[str, tuple[int, ...]], FloorTrack] = {}


def learnt_track(case: Case, trial: Trial) -> FloorTrack:
    """The sensor's floor track after HISTORY_SNAPSHOTS noise-only snapshots at the
    trial's tuning (cached; callers get a copy)."""
    key = (case.name, trial.noise_seed)
    if key not in _tracks:
        track = FloorTrack()
        c = case.collector(trial.center_freq_hz)
        for k in range(HISTORY_SNAPSHOTS):
            rng = np.random.default_rng([*trial.noise_seed, 0x7AC, k])
            x = c.render([], 0.0, rng, include_signals=False)
            detect_rf(x, case.sample_rate_hz, trial.center_freq_hz, floor_track=track)
        _tracks.clear()  # one trial at a time: keep one
        _tracks[key] = track
    return _tracks[key].copy()


def detect(case: Case, trial: Trial, x: C64) -> list[RfDetection]:
    """detect_rf on one snapshot; a continuous emitter's snapshot follows noise-only ones
    (`learnt_track`): it came on while the sensor was running."""
    track = learnt_track(case, trial) if case.continuous else None
    return detect_rf(x, case.sample_rate_hz, trial.center_freq_hz, floor_track=track)


# ---------------------------------------------------------------- 1. sensitivity


@dataclass
class Sweep:
    case: Case
    n_trials: int
    duration_s: float
    bandwidth_hz: float
    ideal_db: float
    curve: dict[int, tuple[int, int]]  # snr dB -> (detected, trials)
    snr90_db: float | None  # None: not reached in the swept range
    oracle_curve: dict[int, tuple[int, int]]
    oracle90_db: float | None
    note: str = ""

    @property
    def gap_db(self) -> float | None:
        return None if self.snr90_db is None else self.snr90_db - self.ideal_db

    @property
    def passed(self) -> bool:
        return self.gap_db is not None and abs(self.gap_db) <= MAX_GAP_DB


def _detected(case: Case, trial: Trial, noise: C64, snr_db: float) -> bool:
    x, _ = snapshot(case, trial, noise, snr_db)
    return any(match(d, (trial.reference,)) is not None for d in detect(case, trial, x))


def _oracle(case: Case, trial: Trial, noise: C64, snr_db: float) -> bool:
    """The ideal energy detector of SIGNALS.md §6 on the same samples: told the burst's
    samples and band, it sums the periodogram bins of the burst window inside the band
    (M ≈ duration x B independent bins) against the known noise, at Pfa `PFA`. Checks
    the chain (waveform, SNR scaling, noise) independently of `detect_rf`."""
    fs, ref = case.sample_rate_hz, trial.reference
    k0, k1 = round(ref.t_start_s * fs), round(ref.t_end_s * fs)
    a = trial.amplitude_for(snr_db, case.noise_power, fs)
    seg = noise[k0:k1] + np.complex64(a) * trial.signal[k0:k1]
    power = np.abs(np.fft.fft(seg.astype(np.complex128))) ** 2
    freqs = trial.center_freq_hz + np.fft.fftfreq(k1 - k0, 1.0 / fs)
    band = (freqs >= ref.freq_lo_hz) & (freqs < ref.freq_hi_hz)
    m = int(band.sum())
    statistic = float(power[band].sum()) / ((k1 - k0) * case.noise_power)
    return statistic > float(special.gammainccinv(m, PFA))


Curve = dict[int, list[int]]


def _run_points(
    case: Case,
    n_trials: int,
    points: Sequence[int],
    curve: Curve,
    oracle_points: Sequence[int] = (),
    oracle_curve: Curve | None = None,
) -> None:
    for i in range(n_trials):
        trial = case.trial(i, natural=False, fixed=True)
        noise = case.noise(trial)
        for s in points:
            curve.setdefault(s, []).append(int(_detected(case, trial, noise, float(s))))
        for s in oracle_points:
            assert oracle_curve is not None
            oracle_curve.setdefault(s, []).append(int(_oracle(case, trial, noise, float(s))))


def _crossing(curve: Curve) -> float | None:
    """SNR at Pd 0.9, interpolated above the highest point still below it."""
    snrs = sorted(curve)
    pd = [float(np.mean(curve[s])) for s in snrs]
    below = [k for k, p in enumerate(pd) if p < PD]
    if not below:
        return None  # even the lowest point reaches 0.9: extend down
    k = below[-1]
    if k == len(snrs) - 1:
        return None  # never reached
    s0, s1, p0, p1 = snrs[k], snrs[k + 1], pd[k], pd[k + 1]
    return s0 + (PD - p0) / (p1 - p0) * (s1 - s0)


def sweep(case: Case, n_trials: int, coarse_trials: int) -> Sweep:
    """Coarse 3 dB scan on a few trials to find the knee, then 1 dB steps with all trials
    around it, extended until Pd 0.9 is bracketed; the oracle on 1 dB steps round the
    ideal SNR with the same trials."""
    duration_s, bandwidth_hz = case.nominal()
    ideal = ideal_snr_db(duration_s * bandwidth_hz)
    grid = [round(ideal) - 3 + 3 * k for k in range(16)]  # up to ~45 dB above the ideal
    first: list[float] = []
    for i in range(coarse_trials):
        trial = case.trial(i, natural=False, fixed=True)
        noise = case.noise(trial)
        hit = next((s for s in grid if _detected(case, trial, noise, float(s))), math.inf)
        first.append(hit)
    coarse = next((s for s in grid if np.mean(np.array(first) <= s) >= PD), None)
    curve: Curve = {}
    oracle_curve: Curve = {}
    oracle_points = list(range(round(ideal) - 3, round(ideal) + 4))
    note = ""
    if coarse is None:
        points = [grid[-1]]
        note = f"Pd < 0.9 up to {grid[-1]} dB in the coarse scan"
    else:
        points = list(range(coarse - 5, coarse + 3))
    _run_points(case, n_trials, points, curve, oracle_points, oracle_curve)
    for _ in range(6 if coarse is not None else 0):  # extend until bracketed
        snrs = sorted(curve)
        if np.mean(curve[snrs[0]]) >= PD:
            _run_points(case, n_trials, [snrs[0] - 2, snrs[0] - 1], curve)
        elif np.mean(curve[snrs[-1]]) < PD:
            _run_points(case, n_trials, [snrs[-1] + 1, snrs[-1] + 2], curve)
        else:
            break
    print(f"  [{time.strftime('%H:%M:%S')} {case.name} done]", file=sys.stderr, flush=True)
    return Sweep(
        case,
        n_trials,
        duration_s,
        bandwidth_hz,
        ideal,
        _counts(curve),
        _crossing(curve),
        _counts(oracle_curve),
        _crossing(oracle_curve),
        note,
    )


def _counts(curve: Curve) -> dict[int, tuple[int, int]]:
    return {s: (sum(v), len(v)) for s, v in sorted(curve.items())}


def print_sensitivity(sweeps: list[Sweep]) -> None:
    print(f"\n== 1. Sensitivity: SNR at Pd {PD} vs ideal energy detector (Pfa {PFA:g}) ==")
    print("in-band SNR per complex sample over the burst's occupied (99 %) bandwidth B;")
    print("ideal: exact chi-squared, N = duration x B; one burst per snapshot;")
    print("gap = achieved - ideal;")
    print("oracle: that ideal detector run on the same snapshots (checks the SNR scale);")
    print("1e-9: the ideal at Pfa 1e-9 (about the per-box Pfa of detect_rf's scan: the frame's")
    print("      1e-2 split over its levels and box positions, ~10^5 of them in a wideband frame);")
    print(f"pass: |gap| <= {MAX_GAP_DB:g} dB")
    print(
        f"{'signature':<18} {'fs MS/s':>7} {'N':>3} {'burst':>9} {'B kHz':>6} {'T*B':>7} "
        f"{'ideal':>6} {'Pd0.9':>6} {'gap dB':>6}  {'result':<6} {'oracle':>6} {'1e-9':>6}"
    )
    for s in sweeps:
        dur = f"{s.duration_s * 1e3:.3f}ms"
        got = "n/r" if s.snr90_db is None else f"{s.snr90_db:.1f}"
        gap = "n/r" if s.gap_db is None else f"{s.gap_db:+.1f}"
        oracle = "n/r" if s.oracle90_db is None else f"{s.oracle90_db:.1f}"
        strict = ideal_snr_db(s.duration_s * s.bandwidth_hz, pfa=1e-9)
        verdict = "pass" if s.passed else "FAIL"
        extra = (" continuous" if s.case.continuous else "") + (f" {s.note}" if s.note else "")
        print(
            f"{s.case.name:<18} {s.case.sample_rate_hz / 1e6:>7.2f} {s.n_trials:>3} {dur:>9} "
            f"{s.bandwidth_hz / 1e3:>6.0f} {s.duration_s * s.bandwidth_hz:>7.0f} "
            f"{s.ideal_db:>6.1f} {got:>6} {gap:>6}  {verdict:<6} {oracle:>6} {strict:>6.1f}"
            f"{extra}"
        )
    print("\nPd curves of detect_rf (SNR dB: detected/trials), then of the oracle:")
    for s in sweeps:
        pts = " ".join(f"{k:+d}:{d}/{n}" for k, (d, n) in s.curve.items())
        ora = " ".join(f"{k:+d}:{d}/{n}" for k, (d, n) in s.oracle_curve.items())
        print(f"  {s.case.name:<18} {pts}")
        print(f"  {'  oracle':<18} {ora}")


# ---------------------------------------------------------------- 2./3. classification


@dataclass(frozen=True)
class Outcome:
    """One detection of a classification snapshot (or of a noise-only one)."""

    case: str
    true_signature: str | None  # None: matched no true burst (false alarm)
    true_kind: str | None
    signature: str
    kind: str
    confidence: float
    snr_db: float | None

    @property
    def correct(self) -> bool:
        return self.signature == self.true_signature


@dataclass
class ClassRun:
    outcomes: list[Outcome]
    snapshots: Counter[str]  # snapshots with the reference burst at >= 10 dB
    missed: Counter[str]  # ... of which no detection matched the reference burst


def classify(cases: Sequence[Case], n_trials: int) -> ClassRun:
    run = ClassRun([], Counter(), Counter())
    for case in cases:
        kind = str(case.make(0).kind)
        fs = case.sample_rate_hz
        for i in range(n_trials):
            trial = case.trial(i, natural=True)
            r = np.random.default_rng([case.salt, i, 0xC1A55])
            snr = float(r.uniform(10.0, 30.0) if i % 2 == 0 else r.uniform(-5.0, 10.0))
            x, a = snapshot(case, trial, case.noise(trial), snr)
            dets = detect(case, trial, x)
            ref_found = False
            for d in dets:
                t = match(d, trial.truths, CLASS_WIDEN)
                if t is None:
                    run.outcomes.append(
                        Outcome(case.name, None, None, d.signature, d.kind, d.confidence, None)
                    )
                    continue
                ref_found |= covers(d, trial.reference)
                snr_t = trial.snr_db(t, a, case.noise_power, fs)
                run.outcomes.append(
                    Outcome(
                        case.name, case.signature, kind, d.signature, d.kind, d.confidence, snr_t
                    )
                )
            if snr >= CLASS_MIN_SNR_DB:
                run.snapshots[case.name] += 1
                run.missed[case.name] += int(not ref_found)
    return run


def print_classification(cases: Sequence[Case], run: ClassRun, n_trials: int) -> float | None:
    strong = [o for o in run.outcomes if o.snr_db is not None and o.snr_db >= CLASS_MIN_SNR_DB]
    seen = {o.signature for o in strong} | {c.signature for c in cases}
    cols = [s for s in ABBREV if s in seen] + sorted(seen - set(ABBREV))
    print(
        f"\n== 2. Classification: detections whose true burst is at >= {CLASS_MIN_SNR_DB:g} dB =="
    )
    print(
        f"{n_trials} snapshots per row (half with the reference burst at 10-30 dB, half at "
        "-5-10 dB; only detections of >= 10 dB bursts counted here)"
    )
    print(
        "rows: true emitter (case); columns: reported signature; "
        "kind ok: reported kind (drone/handset/other) = true kind;"
    )
    print(
        "missed: 10-30 dB snapshots where no detection accounted for the reference burst; "
        "unmatched: detections overlapping no true burst (all SNRs)"
    )
    head = " ".join(f"{ABBREV.get(c, c[:5]):>5}" for c in cols)
    corner = "true \\ reported"
    print(
        f"{corner:<22} {head} | {'dets':>5} {'right':>6} {'kind ok':>7} "
        f"{'missed':>9} {'unmatched':>9}"
    )
    total = right = 0
    weak: list[str] = []
    for case in cases:
        row = [o for o in strong if o.case == case.name]
        counts = Counter(o.signature for o in row)
        cells = " ".join(f"{counts.get(c, 0) or '.':>5}" for c in cols)
        n_right = sum(o.correct for o in row)
        kind_ok = sum(o.kind == o.true_kind for o in row)
        acc = f"{n_right / len(row):6.0%}" if row else "   n/a"
        kacc = f"{kind_ok / len(row):7.0%}" if row else "    n/a"
        missed = f"{run.missed[case.name]}/{run.snapshots[case.name]}"
        unmatched = sum(1 for o in run.outcomes if o.case == case.name and o.snr_db is None)
        print(f"{case.name:<22} {cells} | {len(row):>5} {acc} {kacc} {missed:>9} {unmatched:>9}")
        total += len(row)
        right += n_right
        if row and n_right < CLASS_TARGET * len(row):
            weak.append(f"{case.name} {n_right / len(row):.0%}")
    legend = ", ".join(f"{ABBREV.get(c, c)}={c}" for c in cols)
    print(f"legend: {legend}")
    overall = right / total if total else None
    if overall is not None:
        verdict = "pass" if overall >= CLASS_TARGET else "FAIL"
        print(
            f"overall: {right}/{total} = {overall:.1%} right (target >= {CLASS_TARGET:.0%}): "
            f"{verdict}"
        )
    if weak:
        print(f"rows below {CLASS_TARGET:.0%}: {', '.join(weak)}")
    return overall


def print_calibration(outcomes: Sequence[Outcome]) -> list[tuple[float, float, int]]:
    print("\n== 3. Confidence calibration ==")
    print("all detections of part 2 (every SNR; a detection overlapping no true burst is wrong)")
    print("and of part 4 (noise only: all wrong); right = reported signature is the true one")
    print(
        f"{'confidence':<11} {'count':>6} {'mean conf':>9} {'right':>6} {'fraction':>8}  "
        f"{'(of which false alarms)':>22}"
    )
    rows = []
    for k in range(10):
        lo, hi = k / 10, (k + 1) / 10
        inside = [o for o in outcomes if lo <= o.confidence < hi or (k == 9 and o.confidence >= 1)]
        if not inside:
            print(f"{lo:.1f}-{hi:.1f}     {0:>6}")
            continue
        n_right = sum(o.correct for o in inside)
        fa = sum(o.true_signature is None for o in inside)
        mean = float(np.mean([o.confidence for o in inside]))
        print(
            f"{lo:.1f}-{hi:.1f}     {len(inside):>6} {mean:>9.2f} {n_right:>6} "
            f"{n_right / len(inside):>8.0%}  {fa:>22}"
        )
        rows.append((mean, n_right / len(inside), len(inside)))
    return rows


# ---------------------------------------------------------------- 4. false alarms


@dataclass(frozen=True)
class NoiseSensor:
    name: str
    case: Case  # borrowed for its sensor settings
    center_freq_hz: float
    snapshots: int


@dataclass
class NoiseResult:
    sensor: NoiseSensor
    seconds: float
    snapshot_s: float
    detections: list[RfDetection]


def false_alarms(sensors: Sequence[NoiseSensor]) -> list[NoiseResult]:
    out = []
    for s in sensors:
        c = s.case.collector(s.center_freq_hz)
        found: list[RfDetection] = []
        for i in range(s.snapshots):
            rng = np.random.default_rng([s.case.salt, i, 0xFA15E])
            x = c.render([], 0.0, rng, include_signals=False)
            found += detect_rf(x, s.case.sample_rate_hz, s.center_freq_hz)
        seconds = s.snapshots * c.frame_duration_s
        out.append(NoiseResult(s, seconds, c.frame_duration_s, found))
    return out


def print_false_alarms(results: Sequence[NoiseResult]) -> None:
    print("\n== 4. False alarms on receiver noise only (include_signals=False) ==")
    print(
        f"{'sensor':<16} {'fs MS/s':>7} {'snap ms':>7} {'centre MHz':>10} {'snapshots':>9} "
        f"{'seconds':>7} {'dets':>5} {'per snap':>8} {'per s':>7}  signatures"
    )
    for r in results:
        s, n = r.sensor, len(r.detections)
        sigs = Counter(d.signature for d in r.detections)
        names = ", ".join(f"{k} {v}" for k, v in sigs.most_common()) or "-"
        upper = "" if n else f" (95 % upper bound {3.0 / r.seconds:.2g}/s)"
        print(
            f"{s.name:<16} {s.case.sample_rate_hz / 1e6:>7.2f} {r.snapshot_s * 1e3:>7.1f} "
            f"{s.center_freq_hz / 1e6:>10.1f} {s.snapshots:>9} {r.seconds:>7.1f} {n:>5} "
            f"{n / s.snapshots:>8.3f} {n / r.seconds:>7.3f}  {names}{upper}"
        )


# ---------------------------------------------------------------- main


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return done.stdout.strip()


def _select(names: Sequence[str] | None) -> list[Case]:
    if not names:
        return list(CASES)
    chosen = [c for c in CASES if c.name in names or c.signature in names]
    unknown = set(names) - {c.name for c in CASES} - {c.signature for c in CASES}
    if unknown:
        known = sorted({c.name for c in CASES} | {c.signature for c in CASES})
        raise SystemExit(f"unknown signature(s) {sorted(unknown)}; known: {', '.join(known)}")
    return chosen


def _noise_sensors(cases: Sequence[Case], scale: float) -> list[NoiseSensor]:
    """One noise-only sensor per (sample rate, snapshot) the selected cases use."""
    centres = {25e6: 2437e6, 50e6: 5800e6, 15.36e6: 847e6, 2e6: 897.5e6, 250e3: 382.5e6}
    base = {25e6: 1000, 50e6: 400, 15.36e6: 800, 2e6: 2000, 250e3: 500}
    names = {25e6: "2.4 GHz ISM", 50e6: "5.8 GHz ISM", 15.36e6: "LTE B20 uplink",
             2e6: "GSM-900 uplink", 250e3: "PMR 380 MHz"}  # fmt: skip
    out, seen = [], set()
    for c in cases:
        fs = c.sample_rate_hz
        if fs in seen:
            continue
        seen.add(fs)
        n = max(20, round(base.get(fs, 300) * scale))
        out.append(NoiseSensor(names.get(fs, f"{fs / 1e6:g} MS/s"), c, centres.get(fs, 2437e6), n))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer trials (a few minutes)")
    p.add_argument("--trials", type=int, help="sensitivity trials per SNR point (50; quick 12)")
    p.add_argument("--class-trials", type=int, help="snapshots per emitter, part 2 (60; quick 12)")
    p.add_argument("--fa-scale", type=float, help="x the noise-only snapshot counts (1; quick 0.2)")
    p.add_argument("--signatures", nargs="+", help="case names or signatures (default: all)")
    p.add_argument("--skip", nargs="+", default=(), choices=("sens", "class", "fa"))
    p.add_argument("--cpu", type=int, default=0, help="the one core to run on")
    args = p.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    n_trials = args.trials or (12 if args.quick else 50)
    coarse_trials = min(n_trials, 6 if args.quick else 10)
    n_class = args.class_trials or (12 if args.quick else 60)
    fa_scale = args.fa_scale if args.fa_scale is not None else (0.2 if args.quick else 1.0)
    cases = _select(args.signatures)
    t_start = time.perf_counter()

    dirty = _git("status", "--porcelain", "--", "detectors", "simulator", "bench")
    # "XY path" lines (the output is stripped, so the first may have lost its X blank)
    changed = ", ".join(line.split(maxsplit=1)[-1] for line in dirty.splitlines())
    print("rf_quality: detect_rf vs simulator ground truth")
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"date:    {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(
        f"commit:  {_git('rev-parse', '--short', 'HEAD')}"
        + (f" (uncommitted changes: {changed})" if dirty else "")
    )
    print(
        f"cpu {args.cpu}; sensitivity {n_trials} trials/point (coarse scan {coarse_trials}); "
        f"classification {n_class} snapshots/emitter; noise-only scale {fa_scale:g}",
        flush=True,
    )

    sweeps: list[Sweep] = []
    if "sens" not in args.skip:
        t0 = time.perf_counter()
        sweeps = [sweep(c, n_trials, coarse_trials) for c in cases if c.sensitivity]
        print_sensitivity(sweeps)
        print(f"(part 1: {time.perf_counter() - t0:.0f} s)", flush=True)

    overall = None
    run = ClassRun([], Counter(), Counter())
    if "class" not in args.skip:
        t0 = time.perf_counter()
        run = classify(cases, n_class)
        overall = print_classification(cases, run, n_class)
        print(f"(part 2: {time.perf_counter() - t0:.0f} s)", flush=True)

    noise_results: list[NoiseResult] = []
    fa_seconds = 0.0
    if "fa" not in args.skip:
        t0 = time.perf_counter()
        noise_results = false_alarms(_noise_sensors(cases, fa_scale))
        fa_seconds = time.perf_counter() - t0
    fa = [
        Outcome(r.sensor.name, None, None, d.signature, d.kind, d.confidence, None)
        for r in noise_results
        for d in r.detections
    ]
    calibration = print_calibration(run.outcomes + fa) if run.outcomes or fa else []
    if noise_results:
        print_false_alarms(noise_results)
        print(f"(part 4: {fa_seconds:.0f} s)", flush=True)
    elapsed = time.perf_counter() - t_start

    print("\n== Summary ==")
    if sweeps:
        passed = [s for s in sweeps if s.passed]
        print(
            f"sensitivity: {len(passed)}/{len(sweeps)} signatures within {MAX_GAP_DB:g} dB "
            "of the ideal energy detector"
        )
        worst = sorted(sweeps, key=lambda s: -math.inf if s.gap_db is None else -s.gap_db)
        for s in [w for w in worst if not w.passed]:
            gap = "not reached" if s.gap_db is None else f"{s.gap_db:+.1f} dB"
            print(f"  {s.case.name:<20} gap {gap}")
    if overall is not None:
        print(
            f"classification at >= {CLASS_MIN_SNR_DB:g} dB: {overall:.1%} right "
            f"(target {CLASS_TARGET:.0%})"
        )
    if calibration:
        populated = [(m, f, n) for m, f, n in calibration if n >= 20]
        if populated:
            worst_bin = max(populated, key=lambda r: abs(r[0] - r[1]))
            print(
                f"calibration: worst bin (>= 20 detections) mean confidence {worst_bin[0]:.2f}"
                f" vs {worst_bin[1]:.0%} right"
            )
    if fa:
        print(f"false alarms: {len(fa)} detections on noise-only snapshots")
    elif noise_results:
        print("false alarms: none on noise-only snapshots")
    print(f"runtime: {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
