"""Acoustic detector throughput: x real time per core of the hub's acoustic stage 1 on 1 s
frames: `detect_with_history` (the comb search, the envelope its history pools, the
history's update; a fresh history per call, so never a second search).

Frames (16 kHz mono, 1 s) come from the simulator: a Phantom-class drone at 60-300 m in
45 dBA ambience (a comb to analyse: the confuser tests run) and the ambience alone (most
of a station's day), rendered once before timing. Each frame is timed on one core as the
median of `--repeats` calls (the machines are shared: a median is what a loaded core
gives, the fastest call only what an idle one would), and the figure is 1 s of audio /
mean time per frame. The 48 kHz figure uses the same audio
upsampled by 3 (the detector analyses it at its native rate up to 7.2 kHz).

Same-run baseline: `detect_rotor` at git revision `--baseline` (default HEAD), and the
floor no detector of this design can beat: one Hann-windowed float32 rfft of the frame.

Also printed, 16 kHz only: "station", what a hub spends per frame on a calibrated station
in operation: each microphone's frames in time order through one persistent, calibrated
`HistoryRegistry` (plant-line learning, the modulation history, and the sum of recent
frames, `acoustic_integrate`, where the station hears at most its `max_level_dba`: at
this 45 dBA station, over the 38 dBA default, the sum is off), timed over the whole
sequence (median of `--repeats` passes, each with a fresh registry).

    python bench/acoustic_throughput.py [--frames 40] [--repeats 5] [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402
from acoustic_quality import baseline_detector, commit_label  # noqa: E402
from acoustic_range import SCENARIO, sensor_yaml, waypoints  # noqa: E402

from detectors.acoustic import detect_with_history  # noqa: E402
from detectors.acoustic_history import HistoryRegistry  # noqa: E402
from simulator.commands import load_scenario  # noqa: E402

DISTANCES = (60.0, 100.0, 150.0, 300.0)


def frames(n: int) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """(drone frames, ambience-only frames, their full_scale_db_spl), n of each, (16000,)
    float32; the drone frames are the microphones' frames in turn, k = 0, 1, ..."""
    sensors = "\n".join(sensor_yaml(i, d, 45.0) for i, d in enumerate(DISTANCES))
    per = -(-n // len(DISTANCES))
    text = SCENARIO.format(seed=3, duration=per, sensors=sensors, waypoints=waypoints(per))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "throughput.yaml"
        path.write_text(text)
        sc = load_scenario(str(path))
    drone, quiet = [], []
    for k in range(per):
        for i in range(len(DISTANCES)):
            drone.append(np.asarray(sc.render(f"mic-{i}", k), dtype=np.float32).reshape(-1))
            quiet.append(np.asarray(sc.render(f"mic-{i}", k, include_signals=False),
                                    dtype=np.float32).reshape(-1))  # fmt: skip
    return drone[:n], quiet[:n], float(sc.collector("mic-0").full_scale_db_spl)


def station_seconds_per_frame(xs: list[np.ndarray], full_scale_db_spl: float, microphones: int,
                              repeats: int) -> float:  # fmt: skip
    """Mean time per frame of `detect_with_history` over xs, whose frame j is microphone
    j % microphones's frame j // microphones, each microphone its own calibrated state in a
    registry kept over the sequence; the median of `repeats` passes, each with a fresh
    registry."""
    passes = []
    for _ in range(repeats):
        registry = HistoryRegistry()
        t0 = time.perf_counter()
        for j, x in enumerate(xs):
            detect_with_history(x, 16_000.0, j % microphones, float(j // microphones), registry,
                                full_scale_db_spl=full_scale_db_spl)  # fmt: skip
        passes.append(time.perf_counter() - t0)
    return statistics.median(passes) / len(xs)


def seconds_per_frame(
    fn: Callable[[np.ndarray], object], xs: list[np.ndarray], repeats: int
) -> float:
    """Mean over frames of the median of `repeats` calls on each frame."""
    for x in xs[:3]:
        fn(x)  # warm caches (windows, grids)
    total = 0.0
    for x in xs:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t0)
        total += statistics.median(times)
    return total / len(xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40, help="frames per set")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="12 frames, 3 repeats")
    ap.add_argument("--baseline", default="HEAD", help="git revision of the baseline detector")
    ap.add_argument("--cpu", type=int, default=0)
    args = ap.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    if args.quick:
        args.frames, args.repeats = 12, 3
    base_fn, base_label = baseline_detector(args.baseline)
    print(f"$ python {' '.join(sys.argv)}")
    print(f"acoustic_throughput: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit "
          f"{commit_label()}; baseline detector: {base_label}; "
          f"{args.frames} frames per set, median of {args.repeats}, on cpu {args.cpu}")  # fmt: skip
    t0 = time.perf_counter()
    drone, quiet, full_scale_db_spl = frames(args.frames)
    sets = {"drone 60-300 m": drone, "ambience only": quiet, "mixed 1:1": drone + quiet}
    print(f"{'rate':>6} {'frames':<15} {'now ms':>7} {'now x RT':>9} {'base ms':>8} "
          f"{'base x RT':>10} {'rfft x RT':>10}")  # fmt: skip
    for rate in (16_000.0, 48_000.0):
        up = round(rate / 16_000.0)
        w = np.hanning(int(rate) + 1)[: int(rate)].astype(np.float32)
        for label, xs in sets.items():
            data = [np.repeat(x, up) if up > 1 else x for x in xs]
            now = seconds_per_frame(
                lambda x, r=rate: detect_with_history(x, r, "bench", 0.0, HistoryRegistry()),
                data,
                args.repeats,
            )
            base = (
                seconds_per_frame(lambda x, r=rate: base_fn(x, r), data, args.repeats)
                if base_fn is not None else float("nan")
            )  # fmt: skip
            floor = seconds_per_frame(lambda x, w=w: scipy.fft.rfft(x * w), data, args.repeats)
            print(f"{rate / 1e3:>4.0f} k {label:<15} {now * 1e3:>7.3f} {1 / now:>9.0f} "
                  f"{base * 1e3:>8.3f} {1 / base:>10.0f} {1 / floor:>10.0f}",
                  flush=True)  # fmt: skip
    for label, xs in (("drone 60-300 m", drone), ("ambience only", quiet)):
        station = station_seconds_per_frame(xs, full_scale_db_spl, len(DISTANCES), args.repeats)
        print(f"{16:>4} k {'station, ' + label:<30} {station * 1e3:>7.3f} {1 / station:>9.0f}",
              flush=True)  # fmt: skip
    print(f"target: >= 1000x real time per core at 16 kHz; wall {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
