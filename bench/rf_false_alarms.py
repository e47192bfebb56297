"""RF false alerts: the hub's stage 1 and stage 2 over threat-free scenarios.

Plays the quiet-night and busy-day scenarios (no drone, no handset: Wi-Fi APs, staff
radios, microwave ovens, mowers, traffic...) pass after pass (each pass a new draw of
every random quantity) until `--hours` of RF sensor time are covered, and feeds every RF
frame through `pipeline.detect_frame` and `fusion.Fusion` with the clock at the frame's
time, exactly as the hub does. Prints, per scenario and in total: RF sensor-hours,
frames, threat-class detections at the alert cut (per frame: the p of fusion.py's
false-alarm arithmetic), alerts raised, and alerts per sensor per 24 h, measured and
extrapolated from p with the M-of-N formula. The same-run baseline is the per-frame
rate of the detector alone without persistence (what an alert per detection would give).

    python bench/rf_false_alarms.py [--hours 1.0] [--scenarios quiet_night busy_day]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

from sensor_hub.codec import decode_frame  # noqa: E402
from sensor_hub.fusion import Fusion  # noqa: E402
from sensor_hub.pipeline import detect_frame, rf_floor_tracks  # noqa: E402
from sensor_hub.settings import FusionSettings, SiteConfig  # noqa: E402
from sensor_hub.testing import FakeClock  # noqa: E402
from simulator.collectors import RfCollector  # noqa: E402
from simulator.commands import load_scenario  # noqa: E402

LIBRARY = Path(__file__).resolve().parent.parent / "simulator" / "scenarios"
START_NS = 1_790_000_000_000_000_000


@dataclass
class Tally:
    sensor_s: float = 0.0
    frames: int = 0
    threat_frames: int = 0  # frames with a drone/handset detection at the alert cut
    alerts: list[str] = field(default_factory=list)
    labels: Counter[str] = field(default_factory=Counter)
    frame_rate_hz: float = 0.0  # RF frames per second per sensor (mean)

    def add(self, other: Tally) -> None:
        self.sensor_s += other.sensor_s
        self.frames += other.frames
        self.threat_frames += other.threat_frames
        self.alerts += other.alerts
        self.labels.update(other.labels)


def run_pass(name: str, loop_index: int, fusion_settings: FusionSettings) -> Tally:
    scenario = load_scenario(str(LIBRARY / f"{name}.yaml"))
    rf = [c for c in scenario.collectors if isinstance(c, RfCollector)]
    t = Tally(sensor_s=len(rf) * scenario.duration_s)
    t.frame_rate_hz = sum(c.frames_per_pass(scenario.duration_s) for c in rf) / t.sensor_s
    start = datetime.fromtimestamp(START_NS / 1e9, UTC) + timedelta(days=loop_index)
    clock = FakeClock(start)
    fusion = Fusion(fusion_settings, SiteConfig(site=scenario.site), clock)
    start_ns = START_NS + loop_index * 86_400 * 10**9
    rf_floors = rf_floor_tracks()  # the hub's per-sensor receiver-shape references
    for msg in scenario.messages(start_ns, loop_index=loop_index):
        if "/frames/iq" not in msg.topic:
            continue
        clock.now = start + timedelta(seconds=msg.due_s)
        frame = decode_frame(msg.payload)
        found = detect_frame(frame, None, rf_floors)
        t.frames += 1
        t.labels.update(d.signature for d in found)
        threats = [
            d for d in found
            if d.kind != "other" and d.confidence >= fusion_settings.min_confidence
        ]  # fmt: skip
        t.threat_frames += bool(threats)
        for change in fusion.process(found) + fusion.tick():
            if change.type == "alert.created":
                a = change.alert
                t.alerts.append(f"{a.kind} {','.join(a.signatures)} at {msg.due_s:.1f} s")
    return t


def extrapolated_per_day(p: float, frame_rate_hz: float, s: FusionSettings) -> float:
    """fusion.py's arithmetic: P(≥M of n frames false) per window, windows at frame rate."""
    n = max(1, round(frame_rate_hz * s.rf_window_s))
    m = s.rf_min_frames
    p_window = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(m, n + 1))
    return p_window * frame_rate_hz * 86_400


def report(label: str, t: Tally, s: FusionSettings) -> None:
    hours = t.sensor_s / 3600
    per_day = len(t.alerts) / (t.sensor_s / 86_400)
    p = t.threat_frames / max(t.frames, 1)
    # with no threat frame seen, the rule of three bounds p at 3/frames (95 %)
    p_hi = p if t.threat_frames else 3.0 / max(t.frames, 1)
    ext = extrapolated_per_day(p_hi, t.frame_rate_hz, s)
    naive = p_hi * t.frame_rate_hz * 86_400
    print(f"{label:<14} {hours:>7.2f} {t.frames:>7} {t.threat_frames:>7} {p:>9.2e} "
          f"{len(t.alerts):>6} {per_day:>9.2f} {ext:>11.2e} {naive:>12.1f}")  # fmt: skip
    for a in t.alerts:
        print(f"    alert: {a}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=1.0, help="RF sensor-hours to cover")
    p.add_argument("--scenarios", nargs="+", default=["quiet_night", "busy_day"])
    p.add_argument("--cpu", type=int, default=0)
    args = p.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()  # fmt: skip
    s = FusionSettings()
    print(f"rf_false_alarms: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, "
          f"target {args.hours:g} RF sensor-hours, M-of-N {s.rf_min_frames} frames in "
          f"{s.rf_window_s:g} s, alert cut {s.min_confidence}")  # fmt: skip
    print(f"{'scenario':<14} {'hours':>7} {'frames':>7} {'threat':>7} {'p/frame':>9} "
          f"{'alerts':>6} {'alerts/d':>9} {'M-of-N/d':>11} {'no-persist/d':>12}")  # fmt: skip
    total = Tally()
    per: dict[str, Tally] = {name: Tally() for name in args.scenarios}
    loop = 0
    t0 = time.perf_counter()
    while total.sensor_s < args.hours * 3600:
        for name in args.scenarios:
            got = run_pass(name, loop, s)
            rate = got.frame_rate_hz
            per[name].add(got)
            per[name].frame_rate_hz = rate
            total.add(got)
        loop += 1
    total.frame_rate_hz = total.frames / max(total.sensor_s, 1e-9)
    for name, t in per.items():
        report(name, t, s)
    report("total", total, s)
    print(f"labels seen (per frame detections): {dict(total.labels.most_common())}")
    print(f"passes per scenario: {loop}; wall time {time.perf_counter() - t0:.0f} s")
    print("alerts/d: measured alerts per RF sensor per 24 h; M-of-N/d: fusion.py's arithmetic "
          "from p/frame (rule of three when no threat frame was seen); no-persist/d: one "
          "alert per threat frame, the baseline without stage 2")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
