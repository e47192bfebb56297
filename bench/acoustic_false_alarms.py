"""Acoustic false alerts: stage 1 + stage 2 over hours of simulated confuser background.

One acoustic station (a microphone 2 m up, or `--mics` of them `--spacing-m` apart on a
line, each with its own ambience and wind; 45 dBA suburban ambience, or `--ambience-dba`:
30 for a quiet night; with `--source-gain-db -20` the confusers are far enough for the
station to hear under 38 dBA, where the detector also sums frames) hears the §4
confusers of SIGNALS.md at typical distances: a 4-stroke mower and a 2-stroke strimmer
working the grounds, a diesel genset, an HVAC fan, transformer hum, road traffic, a
police helicopter and a piston aircraft passing, voices, music from a radio, a car horn,
a distant siren and wind on the microphone (`simulator/acoustic_confusers.py`).

Rendering every source for hours of audio takes too long for a bench, so each source is
rendered once, alone, as a `--pass-s` long run of back-to-back 1 s frames (simulator
physics: retarded time, Doppler, spreading, absorption, ground reflection), and so is the
ambience. Each station pass then mixes the ambience with a random subset of the sources
(each present with probability 0.6), each cyclically shifted by a random offset and scaled
by a random gain of ±6 dB (other distances); consecutive frames stay consecutive, so
stage 2's persistence rule sees real temporal structure. Every mixed frame is encoded as
the simulator publishes it (16 kHz int16), decoded, run through `pipeline.detect_frame`
(with a per-station modulation history, `detectors.acoustic_history`, fresh for each
pass and each source run, as the hub keeps one per sensor) and fed to `fusion.Fusion` on
a `FakeClock`, as `bench/rf_false_alarms.py` does; alerts raised are counted per station
per 24 h (target <= 1).

Also printed: the share of frames with a drone comb at the alert cut for each source
alone over ambience. Same-run baseline: `detect_rotor` at git revision `--baseline`
(default HEAD) on the same frames through the same stage 2.

Default 24 station-hours: at a rate of a few alerts a day, 6 h (the issue's minimum)
holds 0-2 of them and says little (at b90789b: 1 alert in the first 6 h, 17 in 24 h).

Seeds: the detector's rules were developed against seeds 7 and 11; seeds 1-4 were first
run in the twelfth session, after the rules (BENCHMARKS.md). Several seeds run side by
side, one per core given, and the totals over them are printed last:

    python bench/acoustic_false_alarms.py [--hours 24] [--seed 7 [11 ...]] [--cpu 0 [1 ...]]
        [--ambience-dba 45] [--source-gain-db 0] [--mics 1] [--spacing-m 1] [--quick]
    python bench/acoustic_false_alarms.py --seed 1 2 3 4 7 11 --cpu 0 1 --baseline none
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import functools  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from acoustic_quality import as_detection, baseline_detector, commit_label  # noqa: E402

from detectors.acoustic_history import HistoryRegistry  # noqa: E402
from sensor_hub.codec import Frame, decode_frame, encode_samples  # noqa: E402
from sensor_hub.fusion import Fusion  # noqa: E402
from sensor_hub.pipeline import detect_frame  # noqa: E402
from sensor_hub.schemas import Detection  # noqa: E402
from sensor_hub.settings import FusionSettings, SiteConfig  # noqa: E402
from sensor_hub.testing import FakeClock  # noqa: E402
from simulator.audio_collector import AudioCollector  # noqa: E402
from simulator.commands import load_scenario  # noqa: E402

START = datetime(2026, 6, 1, tzinfo=UTC)
SITE = "bench"
MIC = "mic-station"

SCENARIO = """
description: acoustic false-alarm bench - one source near a station microphone
seed: {seed}
duration_s: {duration}
site:
  name: bench
  zones: {{yard: [[-5000, -5000], [5000, -5000], [5000, 5000], [-5000, 5000]]}}
  weather: {{absorption: 20C_30RH, wind_m_s: 4}}
  ground_reflection: 0.6
sensors:
  - id: mic-station
    modality: acoustic
    position: [0, 0, 2]
    zone: yard
    acoustic: {{sample_rate_hz: 16000, frame_s: 1.0, ambience_dba: {dba:g}{offsets}}}
emitters:
{emitter}
"""

#: (label, emitter YAML) of every confuser, at typical distances from a wall microphone
SOURCES: dict[str, str] = {
    "mower": """  - id: mower-1
    type: mower
    trajectory:
      waypoints:
        - {position: [-60, 25, 0.5], t_s: 0}
        - {position: [60, 25, 0.5], speed_m_s: 1.2}
        - {position: [60, 45, 0.5], speed_m_s: 1.2}
        - {position: [-60, 45, 0.5], speed_m_s: 1.2}
        - {position: [-60, 25, 0.5], speed_m_s: 1.2}""",
    "strimmer": """  - id: strimmer-1
    type: strimmer
    trajectory:
      waypoints:
        - {position: [-30, 8, 1], t_s: 0}
        - {position: [30, 8, 1], speed_m_s: 0.4}
        - {position: [-30, 8, 1], speed_m_s: 0.4}""",
    "genset": """  - id: genset-1
    type: genset
    trajectory: {position: [90, -30, 1]}""",
    "hvac_fan": """  - id: hvac-1
    type: hvac_fan
    trajectory: {position: [-35, 20, 4]}""",
    "transformer_hum": """  - id: hum-1
    type: transformer_hum
    trajectory: {position: [40, 40, 2]}""",
    "traffic": """  - id: road-1
    type: traffic
    trajectory: {position: [0, -120, 0.5]}
    params: {road_start_m: [-1500, -120, 0.5], road_end_m: [1500, -120, 0.5],
             vehicles_per_min: 6}""",
    "helicopter": """  - id: heli-1
    type: helicopter
    schedule: {{start_s: 20, end_s: {end}}}
    trajectory:
      waypoints:
        - {{position: [-4000, -300, 300], t_s: 20}}
        - {{position: [4000, -300, 300], speed_m_s: 60}}""",
    "aircraft": """  - id: plane-1
    type: aircraft
    schedule: {{start_s: 10, end_s: {end}}}
    trajectory:
      waypoints:
        - {{position: [-5000, 800, 600], t_s: 10}}
        - {{position: [5000, 800, 600], speed_m_s: 60}}""",
    "voices": """  - id: voices-1
    type: voice
    trajectory: {position: [-20, 15, 1.6]}""",
    "music": """  - id: radio-1
    type: music
    trajectory: {position: [50, 30, 1.5]}""",
    "car_horn": """  - id: horn-1
    type: car_horn
    trajectory: {position: [60, -110, 1]}""",
    "siren": """  - id: siren-1
    type: siren
    trajectory: {position: [-900, -400, 2]}""",
    "wind": """  - id: wind-1
    type: wind""",
}
QUICK_SOURCES = ("mower", "strimmer", "genset", "traffic", "helicopter", "voices", "wind")

Detect = Callable[[Frame], list[Detection]]


def mic_offsets(mics: int, spacing_m: float) -> str:
    """The sensor YAML's `mic_offsets_m` for `mics` microphones `spacing_m` apart on a line
    (east-west, centred on the station), or nothing for one microphone."""
    if mics < 2:
        return ""
    xs = [(i - (mics - 1) / 2) * spacing_m for i in range(mics)]
    return ", mic_offsets_m: [" + ", ".join(f"[{x:.3f}, 0, 0]" for x in xs) + "]"


def scenario(
    label: str, seed: int, duration_s: float, dba: float = 45.0, offsets: str = ""
) -> object:
    emitter = SOURCES[label]
    if "{end}" in emitter:
        emitter = emitter.replace("{end}", f"{duration_s:g}").replace("{{", "{")
        emitter = emitter.replace("}}", "}")
    text = SCENARIO.format(seed=seed, duration=duration_s, emitter=emitter, dba=dba,
                           offsets=offsets)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{label}.yaml"
        path.write_text(text)
        return load_scenario(str(path))


def render_runs(
    labels: tuple[str, ...], seed: int, duration_s: float, dba: float = 45.0, offsets: str = ""
) -> tuple[AudioCollector, dict[str, np.ndarray], np.ndarray]:
    """(collector, {label: (frames, n) float32 source alone}, (frames, n) ambience); (frames,
    channels, n) each for an array (`mic_offsets`)."""
    runs: dict[str, np.ndarray] = {}
    ambience = None
    collector = None
    for i, label in enumerate(labels):
        sc = scenario(label, seed + 101 * i, duration_s, dba, offsets)
        c = sc.collector(MIC)  # type: ignore[attr-defined]
        assert isinstance(c, AudioCollector)
        collector = c
        n = c.frames_per_pass(duration_s)
        runs[label] = np.stack([sc.render(MIC, k, include_noise=False) for k in range(n)])  # type: ignore[attr-defined]
        if ambience is None:
            ambience = np.stack([sc.render(MIC, k, include_signals=False) for k in range(n)])  # type: ignore[attr-defined]
    assert collector is not None and ambience is not None
    return collector, runs, ambience


def frame_of(c: AudioCollector, samples: np.ndarray, seq: int, t0_ns: int) -> Frame:
    header = c.header(site=SITE, seq=seq, boot_id="bench", t0_ns=t0_ns)
    return decode_frame(encode_samples(header, samples.astype(np.float32)))


#: the baseline detector by git revision, loaded from git once per process
_baseline = functools.cache(baseline_detector)


@dataclass
class SeedResult:
    """One seed's station passes: what `run_seed` printed and what the totals add up."""

    seed: int
    text: list[str]
    hours: float
    frames: int
    hits: dict[str, int]
    alerts: dict[str, list[str]]


def run_seed(args: argparse.Namespace, labels: tuple[str, ...], seed: int, cpu: int) -> SeedResult:
    """Every source alone, then the seed's station passes through stage 2, on core `cpu`."""
    os.sched_setaffinity(0, {cpu})
    out: list[str] = [f"seed {seed} (cpu {cpu})"]
    base_fn, _ = _baseline(args.baseline)
    s = FusionSettings()
    t0 = time.perf_counter()
    c, runs, ambience = render_runs(
        labels, seed, args.pass_s, args.ambience_dba, mic_offsets(args.mics, args.spacing_m)
    )
    t_render = time.perf_counter() - t0
    history = HistoryRegistry()

    def now(frame: Frame) -> list[Detection]:
        return detect_frame(frame, history)

    detectors: dict[str, Detect] = {"now": now}
    if base_fn is not None:

        def base(frame: Frame) -> list[Detection]:
            h = frame.header
            found = base_fn(frame.samples, h.sample_rate_hz, full_scale_db_spl=h.full_scale_db_spl)
            return [as_detection(frame, d) for d in found]

        detectors["baseline"] = base
    cut = s.min_confidence
    n_frames = ambience.shape[0]
    # each source alone over ambience
    out.append(f"{'source alone':<16} {'frames':>6} "
               + " ".join(f"{k + ' hit':>13}" for k in detectors))  # fmt: skip
    for label, run in runs.items():
        history = HistoryRegistry()
        hits = Counter[str]()
        for k in range(n_frames):
            fr = frame_of(c, ambience[k] + run[k], k, k * 10**9)
            for name, det in detectors.items():
                hits[name] += any(d.kind == "drone" and d.confidence >= cut for d in det(fr))
        out.append(f"{label:<16} {n_frames:>6} "
                   + " ".join(f"{hits[k] / n_frames:>13.3f}" for k in detectors))  # fmt: skip
    # station passes: random mixtures, through stage 2
    rng = np.random.default_rng(seed)
    passes = max(1, round(args.hours * 3600 / args.pass_s))
    alerts: dict[str, list[str]] = {k: [] for k in detectors}
    frame_hits: Counter[str] = Counter()
    for p in range(passes):
        history = HistoryRegistry()
        chosen = [lb for lb in labels if rng.random() < 0.6]
        shifts = {lb: int(rng.integers(n_frames)) for lb in chosen}
        gains = {
            lb: float(10 ** ((rng.uniform(-6, 6) + args.source_gain_db) / 20)) for lb in chosen
        }
        amb_gain = float(10 ** (rng.uniform(-3, 3) / 20))
        start = START + timedelta(days=p)
        clocks = {k: FakeClock(start) for k in detectors}
        fusions = {k: Fusion(s, SiteConfig(site=SITE), clocks[k]) for k in detectors}
        for k in range(n_frames):
            x = amb_gain * ambience[k]
            for lb in chosen:
                x = x + gains[lb] * runs[lb][(k + shifts[lb]) % n_frames]
            fr = frame_of(c, x, k, round((start - datetime(1970, 1, 1, tzinfo=UTC))
                                         .total_seconds() * 1e9) + k * 10**9)  # fmt: skip
            for name, det in detectors.items():
                clocks[name].now = start + timedelta(seconds=k + 1)
                found = det(fr)
                hit = [d for d in found if d.kind == "drone" and d.confidence >= cut]
                frame_hits[name] += bool(hit)
                for change in fusions[name].process(found) + fusions[name].tick():
                    if change.type == "alert.created":
                        alerts[name].append(
                            f"seed {seed} pass {p} at {k} s with {'+'.join(chosen)}"
                        )
    result = SeedResult(seed, out, passes * n_frames / 3600, passes * n_frames,
                        dict(frame_hits), alerts)  # fmt: skip
    out.extend(totals([result], list(detectors)))
    out.append(f"render {t_render:.0f} s, wall {time.perf_counter() - t0:.0f} s")
    return result


def totals(results: list[SeedResult], names: list[str]) -> list[str]:
    """The alert table over `results` (one seed or several), with the alerts listed."""
    hours = sum(r.hours for r in results)
    frames = sum(r.frames for r in results)
    lines = [f"{'detector':<10} {'station h':>9} {'frames':>7} {'hit frames':>10} "
             f"{'p/frame':>8} {'alerts':>6} {'alerts/24h':>10}"]  # fmt: skip
    for name in names:
        hits = sum(r.hits.get(name, 0) for r in results)
        alerts = [a for r in results for a in r.alerts.get(name, [])]
        lines.append(f"{name:<10} {hours:>9.2f} {frames:>7} {hits:>10} {hits / frames:>8.4f} "
                     f"{len(alerts):>6} {len(alerts) / hours * 24:>10.2f}")  # fmt: skip
        lines += [f"    alert ({name}): {a}" for a in alerts[:24]]
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0, help="station-hours per seed")
    ap.add_argument("--pass-s", type=float, default=240.0, help="length of each source run")
    ap.add_argument("--quick", action="store_true", help="1 h, 7 sources, 120 s runs")
    ap.add_argument(
        "--seed", type=int, nargs="+", default=[7],
        help="one or more seeds (7 and 11 were developed against; 1-4 were not), each its "
             "own --hours of station passes, several run side by side on --cpu's cores",
    )  # fmt: skip
    ap.add_argument("--baseline", default="HEAD", help="git revision of the baseline detector")
    ap.add_argument("--cpu", type=int, nargs="+", default=[0], help="cores to run seeds on")
    ap.add_argument(
        "--ambience-dba",
        type=float,
        default=45.0,
        help="the station's background (45: suburban day; 30: a quiet night)",
    )
    ap.add_argument(
        "--source-gain-db",
        type=float,
        default=0.0,
        help="added to every source's gain (-20: the confusers ten times as far)",
    )
    ap.add_argument(
        "--mics", type=int, default=1,
        help="microphones at the station (2 or more: a line array, its frames multichannel)",
    )  # fmt: skip
    ap.add_argument("--spacing-m", type=float, default=1.0, help="between the microphones")
    args = ap.parse_args()
    labels = tuple(SOURCES)
    if args.quick:
        args.hours, args.pass_s, labels = 1.0, 120.0, QUICK_SOURCES
    _, base_label = _baseline(args.baseline)  # loaded once: forked workers inherit it
    s = FusionSettings()
    print(f"$ python {' '.join(sys.argv)}")
    print(f"acoustic_false_alarms: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit "
          f"{commit_label()}; baseline detector: {base_label}; "
          f"{args.hours:g} station-hours per seed from {len(labels)} sources x "
          f"{args.pass_s:g} s runs in {args.ambience_dba:g} dBA, sources "
          f"{args.source_gain_db:+g} dB; {args.mics} microphone(s)"
          f"{f' {args.spacing_m:g} m apart' if args.mics > 1 else ''}; "
          f"seeds {' '.join(map(str, args.seed))}; "
          f"stage 2: {s.acoustic_min_frames} frames >= {s.min_confidence} in "
          f"{s.acoustic_window_s:g} s ({s.acoustic_low_f0_min_frames} under "
          f"{s.acoustic_low_f0_hz:g} Hz)", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    cpus = args.cpu
    results: list[SeedResult] = []
    if len(args.seed) == 1:
        results.append(run_seed(args, labels, args.seed[0], cpus[0]))
    else:  # a batch of seeds at a time, one per core (fork: nothing is pickled but results)
        with multiprocessing.get_context("fork").Pool(len(cpus)) as pool:
            for i in range(0, len(args.seed), len(cpus)):
                batch = args.seed[i : i + len(cpus)]
                jobs = [(args, labels, seed, cpu) for seed, cpu in zip(batch, cpus, strict=False)]
                results += pool.starmap(run_seed, jobs)
    for r in results:
        print("\n".join(r.text), flush=True)
    if len(results) > 1:
        names = list(results[0].alerts)
        print(f"all {len(results)} seeds")
        print("\n".join(totals(results, names)))
    print(f"target: <= 1 alert per station per 24 h; wall {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
