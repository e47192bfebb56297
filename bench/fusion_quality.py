"""Stage 2 quality on simulator scenarios: alerts per intruder, Pd, false alerts, location.

Each scenario is run through the hub's own stages by `simulator.offline` (stage 1 on
every frame through the codec; stage 2 and the health check at frame time with a 1 s
tick) and scored by `sensor-hub evaluate`'s `simulator.evaluate` against the scenario's
truth. `--cache DIR` keeps each scenario's stage 1 output so that stage 2 can be iterated
on in seconds (the cache is keyed by the scenario file and the detectors' source).

    python bench/fusion_quality.py [scenario ...] [--cache /tmp/fq] [--cpu 0]

Default scenario: multi_intruder. Prints, per scenario: intruders, detected, Pd, alerts
per detected intruder, false alerts, median location error (m) and the share within
the alert's radius; suppressed alerts and sensor outages (detected, resolved, latency
from the cut to the sensor_offline alert: the hub's health check runs on a 1 s tick at
frame time, as in the hub); then each intruder and each alert.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sensor_hub.schemas import Detection  # noqa: E402
from simulator.commands import load_scenario  # noqa: E402
from simulator.evaluate import evaluate  # noqa: E402
from simulator.offline import StageOne, stage_one, stage_two, truth_of  # noqa: E402

LIBRARY = REPO / "simulator" / "scenarios"
START_NS = 1_790_000_000_000_000_000


def _source_key(path: Path) -> str:
    h = hashlib.sha256(path.read_bytes())
    for f in [*sorted((REPO / "detectors").glob("*.py")), REPO / "sensor_hub" / "pipeline.py"]:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def stage1(path: Path, cache: Path | None, *, any_detectors: bool = False) -> StageOne:
    """`simulator.offline.stage_one`, cached when asked (any_detectors: take a cached run
    of any detector version, for work on stage 2 alone)."""
    cached = cache / f"{path.stem}-{_source_key(path)}.jsonl" if cache else None
    if cache is not None and any_detectors:
        older = sorted(cache.glob(f"{path.stem}-*.jsonl"), key=lambda f: f.stat().st_mtime)
        cached = older[-1] if older else cached
    if cached is not None and cached.is_file():
        out: StageOne = []
        for line in cached.read_text().splitlines():
            row = json.loads(line)
            out.append((row["t"], row["s"], [Detection.model_validate(d) for d in row["d"]]))
        return out
    frames = stage_one(load_scenario(str(path)), START_NS)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text("".join(
            json.dumps({"t": t, "s": sid, "d": [d.model_dump(mode="json") for d in ds]}) + "\n"
            for t, sid, ds in frames
        ))  # fmt: skip
    return frames


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenarios", nargs="*", default=["multi_intruder"])
    p.add_argument("--cache", type=Path, default=None, help="keep stage 1 output here")
    p.add_argument("--any-detectors", action="store_true",
                   help="reuse a cached stage 1 run made by other detector code")  # fmt: skip
    p.add_argument("--cpu", type=int, default=0)
    args = p.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    print(f"fusion_quality: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}")
    for name in args.scenarios:
        path = Path(name) if name.endswith(".yaml") else LIBRARY / f"{name}.yaml"
        t0 = time.perf_counter()
        frames = stage1(path, args.cache, any_detectors=args.any_detectors)
        t1 = time.perf_counter()
        scenario = load_scenario(str(path))
        alerts = stage_two(scenario, frames, START_NS)
        t2 = time.perf_counter()
        r = evaluate(truth_of(scenario, START_NS), alerts)
        loc = r.location_error_m_median
        print(f"\n{path.stem}: stage 1 {t1 - t0:.1f} s, stage 2 {t2 - t1:.2f} s")
        print(f"  intruders {r.intruders}  detected {r.detected}  pd {r.pd}  "
              f"alerts/intruder {r.alerts_per_intruder}  false alerts {r.false_alerts}  "
              f"location median {'-' if loc is None else f'{loc:.1f} m'}  "
              f"within radius {r.location_within_radius}")  # fmt: skip
        print(f"  suppressed alerts {r.suppressed_alerts}  outages {r.outages}  detected "
              f"{r.outages_detected}  resolved {r.outages_resolved}  offline latency "
              f"{[round(x, 1) for x in r.offline_latencies_s]} s  false offline "
              f"{r.false_offline_alerts}")  # fmt: skip
        for i in r.per_intruder:
            errs = ", ".join(f"{e:.0f}" for e in i.location_errors_m)
            print(f"  intruder {i.intruder_id:<12} {i.kind:<8} {','.join(i.signatures):<40} "
                  f"{i.onset_s:6.1f}-{i.end_s:6.1f} s  best SNR {i.best_snr_db}  "
                  f"alerts {len(i.alert_ids)}  location error {errs or '-'} m")  # fmt: skip
        for a in sorted(alerts, key=lambda a: a.first_seen):
            s0 = (a.first_seen - datetime.fromtimestamp(START_NS / 1e9, UTC)).total_seconds()
            s1 = (a.last_seen - datetime.fromtimestamp(START_NS / 1e9, UTC)).total_seconds()
            where = "" if a.location is None else (
                f" at ({a.location.x_m:.0f}, {a.location.y_m:.0f}) ±{a.location.radius_m:.0f} m"
            )  # fmt: skip
            print(f"  {a.kind:<14} {a.state:<10} {','.join(a.signatures):<40} "
                  f"{s0:6.1f}-{s1:6.1f} s zone {a.zone} cell {a.cell} "
                  f"sensors {','.join(a.sensors)}{where}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
