"""How much faster than real time `sensor-hub record` renders the default scenarios.

For the demo and every scenario in `simulator/scenarios/`, record the whole scenario (or
its first `--duration` seconds) into a temporary directory on one core, `--repeats`
times, and print the median real-time factor (scenario seconds / wall seconds) and the
same by the process's CPU seconds (what one core spends, whatever else the machine
runs). In the same run, a floor no renderer of independent float noise can beat: draw
the same number of float32 Gaussian noise values (complex for IQ, real for audio) with
the simulator's own generator (`simulator.noise`), in the same frame sizes, and
int16-encode them; its real-time factor and the ratio of the two are printed alongside,
and so is numpy's `standard_normal` doing the same (the generator before). `record`
itself writes integer RF payloads straight from the noise table, so it can beat this
floor where signals are sparse.

    python bench/record_speed.py [--duration 0 (whole)] [--repeats 3] [--cpu 0] [SCENARIO...]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402  (the thread limits must be set before numpy is imported)
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from simulator.capture import record  # noqa: E402
from simulator.collectors import RfCollector  # noqa: E402
from simulator.commands import load_scenario  # noqa: E402
from simulator.noise import gaussian32  # noqa: E402
from simulator.scenario import Scenario  # noqa: E402

LIBRARY = Path(__file__).resolve().parent.parent / "simulator" / "scenarios"


def frame_sizes(scenario: Scenario, duration_s: float) -> list[int]:
    """float values per frame that `record` renders in `duration_s` (2 per IQ sample)."""
    sizes: list[int] = []
    for c in scenario.collectors:
        n_frames = c.frames_per_pass(duration_s)
        if isinstance(c, RfCollector):
            sizes += [2 * c.num_samples] * n_frames
        else:
            sizes += [c.num_channels * c.num_samples] * n_frames
    return sizes


def record_seconds(name: str, duration_s: float) -> tuple[float, float]:
    """(wall, CPU) seconds of one `record` (scenario loading excluded, as in `sensor-hub
    record`)."""
    scenario = load_scenario(name)
    with tempfile.TemporaryDirectory(prefix="record-speed-") as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        record(scenario, tmp, duration_s=duration_s, overwrite=True)
        return time.perf_counter() - t0, time.process_time() - c0


def floor_seconds(sizes: list[int], seed: int = 0, *, numpy_normal: bool = False) -> float:
    """Wall seconds to draw Gaussian float32 noise in these frame sizes and encode it."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for n in sizes:
        if numpy_normal:
            x = rng.standard_normal(n, dtype=np.float32)
            x *= np.float32(14.0)  # ~the thermal noise level of the demo in LSB
        else:
            x = gaussian32(rng, n, 14.0)
        np.rint(x, out=x)
        np.clip(x, -32768, 32767, out=x)
        x.astype("<i2").tobytes()
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=0.0,
                   help="scenario seconds to record (0: the whole scenario)")  # fmt: skip
    p.add_argument("--repeats", type=int, default=3, help="runs per scenario (median)")
    p.add_argument("--cpu", type=int, default=0, help="the one core to run on")
    p.add_argument("scenarios", nargs="*", help="default: demo and the library")
    args = p.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    # demo.yaml is the built-in demo as a file (same RF frames): run it once
    library = [str(f) for f in sorted(LIBRARY.glob("*.yaml")) if f.name != "demo.yaml"]
    names = args.scenarios or ["demo", *library]
    what = "whole scenarios" if args.duration <= 0 else f"first {args.duration:g} s"
    print(f"record {what}, median of {args.repeats}, on cpu {args.cpu}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'scenario':<18} {'s':>5} {'Mvalues':>8} {'record s':>9} {'x real':>7} "
          f"{'x real CPU':>10} {'floor s':>8} {'floor x':>8} {'record/floor':>13} "
          f"{'np.normal x':>12}")  # fmt: skip
    for name in names:
        scenario = load_scenario(name)
        full = scenario.duration_s
        window = full if args.duration <= 0 else min(args.duration, full)
        sizes = frame_sizes(scenario, window)
        rec, cpu, flo, npn = [], [], [], []
        for i in range(args.repeats):  # interleaved: all see the same machine load
            wall_s, cpu_s = record_seconds(name, window)
            rec.append(wall_s)
            cpu.append(cpu_s)
            flo.append(floor_seconds(sizes, seed=i))
            npn.append(floor_seconds(sizes, seed=i, numpy_normal=True))
        r, f, g = statistics.median(rec), statistics.median(flo), statistics.median(npn)
        c = statistics.median(cpu)
        label = Path(name).stem
        print(f"{label:<18} {window:>5g} {sum(sizes) / 1e6:>8.1f} {r:>9.2f} {window / r:>7.1f} "
              f"{window / c:>10.1f} {f:>8.2f} {window / f:>8.1f} {r / f:>13.2f} "
              f"{window / g:>12.1f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
