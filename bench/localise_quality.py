"""Where the hub says intruders are: drones seen by several RF sensors, handsets in a block.

Issue 6's location lines, measured over randomised trials, each a small simulator
scenario run through stage 1 (`detect_frame`) and the hub's stage 2 (`Fusion`, clock at
frame time), as `bench/fusion_quality.py` does, and scored by `simulator.evaluate`:

- `drone`: four RF sensors at the corners of a 300 m x 250 m site (2.4 GHz, 25 MS/s,
  Rician K = 8 fading) and a DJI drone (DroneID + OcuSync video) hovering at a random
  place over the site and its surroundings, 30-60 m up, for 20 s. Figure: the alert's
  location error (its last fix against the drone's track), median over trials, and the
  share inside the alert's own radius.
- `handset`: a cell block of four wings (zones, 40 m x 12 m each) with 3 m x 4 m cells
  along both sides of each wing's corridor, one GSM-900 sensor per wing (2 MS/s, Rayleigh
  fading), inner walls 8 dB; a handset in a random cell makes a call for 20 s. Figure: the
  share of trials whose alert names the handset's wing (zone) and cell.

    python bench/localise_quality.py [--trials 15] [--what drone handset] [--cpu 0]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from sensor_hub.localise import smallest_containing  # noqa: E402
from simulator.evaluate import evaluate  # noqa: E402
from simulator.offline import stage_one, stage_two, truth_of  # noqa: E402
from simulator.scenario import Scenario  # noqa: E402
from simulator.scenario_file import build_scenario, parse_scenario  # noqa: E402

START_NS = 1_790_000_000_000_000_000

Data = dict[str, Any]

CORNERS = [(0.0, 0.0), (300.0, 0.0), (0.0, 250.0), (300.0, 250.0)]


def drone_trial(rng: np.random.Generator, seed: int) -> tuple[Data, tuple[float, float]]:
    x, y = float(rng.uniform(-50, 350)), float(rng.uniform(-50, 300))
    z = float(rng.uniform(30, 60))
    rf = {"center_freq_hz": 2437e6, "sample_rate_hz": 25e6, "snapshot_s": 0.02,
          "period_s": 0.25, "fading": "rician", "rician_k_db": 8}  # fmt: skip
    data: Data = {
        "description": "localisation trial: a DJI drone over four RF sensors",
        "seed": seed,
        "duration_s": 20.0,
        "site": {
            "name": "grid",
            "zones": {"site": [[-400, -400], [700, -400], [700, 650], [-400, 650]]},
        },
        "sensors": [
            {
                "id": f"rf-{i}",
                "modality": "rf",
                "position": [cx, cy, 6],
                "zone": "site",
                "rf": {**rf, "start_offset_s": 0.05 * i},
            }
            for i, (cx, cy) in enumerate(CORNERS)
        ],
        "emitters": [
            {"id": "drone", "type": "dji_droneid", "trajectory": {"position": [x, y, z]}},
            {
                "id": "drone",
                "type": "dji_ocusync_video",
                "params": {"center_freq_hz": 2431.5e6, "channel_bandwidth_hz": 10e6},
            },
        ],
    }
    return data, (x, y)


def _box(x0: float, y0: float, w: float, h: float) -> list[list[float]]:
    return [[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]]


def handset_block() -> tuple[dict[str, list[list[float]]], dict[str, list[list[float]]],
                             list[tuple[str, float, float]]]:  # fmt: skip
    """Four wings side by side (each 40 m x 12 m: cells 3 x 4 m on both sides of a 4 m
    corridor); one sensor in the middle of each wing's corridor."""
    zones, cells, sensors = {}, {}, []
    for w in range(4):
        y0 = 20.0 * w
        zones[f"wing-{'abcd'[w]}"] = _box(0.0, y0, 40.0, 12.0)
        for k in range(13):
            cells[f"{'abcd'[w]}-{k + 1:02d}"] = _box(0.5 + 3.0 * k, y0, 3.0, 4.0)
            cells[f"{'abcd'[w]}-{k + 14:02d}"] = _box(0.5 + 3.0 * k, y0 + 8.0, 3.0, 4.0)
        sensors.append((f"rf-wing-{'abcd'[w]}", 20.0, y0 + 6.0))
    return zones, cells, sensors


def handset_trial(rng: np.random.Generator, seed: int) -> tuple[Data, tuple[float, float]]:
    zones, cells, sensors = handset_block()
    name = str(rng.choice(sorted(cells)))
    poly = np.array(cells[name])
    x = float(rng.uniform(poly[:, 0].min() + 0.3, poly[:, 0].max() - 0.3))
    y = float(rng.uniform(poly[:, 1].min() + 0.3, poly[:, 1].max() - 0.3))
    walls = [{"segment": [[0, 20.0 * w + dy], [40, 20.0 * w + dy]], "attenuation_db": 8}
             for w in range(4) for dy in (4.0, 8.0)]  # fmt: skip
    data: Data = {
        "description": "localisation trial: a handset in a cell of a four-wing block",
        "seed": seed,
        "duration_s": 20.0,
        "site": {"name": "block", "zones": zones, "cells": cells, "walls": walls},
        "sensors": [
            {
                "id": sid,
                "modality": "rf",
                "position": [sx, sy, 2.5],
                "zone": f"wing-{sid[-1]}",
                "rf": {
                    "center_freq_hz": 897.5e6,
                    "sample_rate_hz": 2e6,
                    "snapshot_s": 0.05,
                    "period_s": 0.25,
                    "full_scale_dbm": -25,
                    "fading": "rayleigh",
                    "start_offset_s": 0.05 * i,
                },
            }
            for i, (sid, sx, sy) in enumerate(sensors)
        ],
        "emitters": [
            {
                "id": "handset",
                "type": "gsm_uplink",
                "schedule": {"start_s": 1.0},
                "trajectory": {"position": [x, y, 1.2]},
                "params": {"arfcn": 40, "wall_loss_db": 0},
            },
        ],
    }
    return data, (x, y)


def run(scenario: Scenario) -> tuple[Any, list[Any]]:
    alerts = stage_two(scenario, stage_one(scenario, START_NS), START_NS)
    return evaluate(truth_of(scenario, START_NS), alerts), alerts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=15)
    p.add_argument("--what", nargs="+", default=["drone", "handset"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cpu", type=int, default=0)
    args = p.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    print(f"localise_quality: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, "
          f"{args.trials} trials each, seed {args.seed}")  # fmt: skip
    rng = np.random.default_rng(args.seed)
    if "drone" in args.what:
        errors, inside, missed = [], 0, 0
        t0 = time.perf_counter()
        for k in range(args.trials):
            data, (x, y) = drone_trial(rng, 100 + k)
            r, alerts = run(build_scenario(parse_scenario(copy.deepcopy(data))))
            if not r.location_errors_m:
                missed += 1
                print(f"  drone trial {k}: ({x:.0f}, {y:.0f}) no located alert ({len(alerts)})")
                continue
            errors.append(r.location_errors_m[0])
            inside += bool(r.location_within_radius)
            a = next(a for a in alerts if a.location is not None)
            print(f"  drone trial {k}: truth ({x:.0f}, {y:.0f})  fix ({a.location.x_m:.0f}, "
                  f"{a.location.y_m:.0f}) ±{a.location.radius_m:.0f} m  error "
                  f"{r.location_errors_m[0]:.1f} m")  # fmt: skip
        med = statistics.median(errors) if errors else float("nan")
        print(f"drone, 4 RF sensors: median location error {med:.1f} m over {len(errors)} "
              f"located alerts ({missed} trials without one); inside radius {inside}/"
              f"{len(errors)}; {time.perf_counter() - t0:.0f} s")  # fmt: skip
    if "handset" in args.what:
        zones, cells, _ = handset_block()
        zone_ok = cell_ok = n = 0
        t0 = time.perf_counter()
        for k in range(args.trials):
            data, (x, y) = handset_trial(rng, 200 + k)
            r, alerts = run(build_scenario(parse_scenario(copy.deepcopy(data))))
            want_zone = smallest_containing(x, y, zones)
            want_cell = smallest_containing(x, y, cells)
            got = [a for a in alerts if a.kind == "handset" and a.state != "suppressed"]
            n += 1
            if got:
                zone_ok += got[0].zone == want_zone
                cell_ok += got[0].cell == want_cell
            where = f"{got[0].zone}/{got[0].cell}" if got else "no alert"
            print(f"  handset trial {k}: in {want_zone}/{want_cell} -> {where} "
                  f"({len(got)} alerts)")  # fmt: skip
        print(f"handset, one sensor per wing: right zone {zone_ok}/{n} "
              f"({100 * zone_ok / max(n, 1):.0f} %), right cell {cell_ok}/{n}; "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
