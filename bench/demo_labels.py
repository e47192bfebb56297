"""Label census: run stage 1 over every frame of the demo scenario and count labels.

Truth of the demo: rf-wall-n hears elrs_2g4 (drone) and wifi_ap (other);
rf-cellblock-a hears gsm_uplink (handset) from t = 5 s to 65 s; mic-wall-n
hears rotor_harmonics. Anything else is a mislabel (threat labels) or a
fragment (unknown_burst). Usage: python bench/demo_labels.py [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import collections
import time

from sensor_hub.codec import decode_frame
from sensor_hub.pipeline import detect_frame, rf_floor_tracks
from simulator.demo import demo_scenario

EXPECTED = {
    "rf-wall-n": {"elrs_2g4", "wifi_ap"},
    "rf-cellblock-a": {"gsm_uplink"},
    "mic-wall-n": {"rotor_harmonics"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--show", type=int, default=10, help="unexpected detections to print")
    args = parser.parse_args()
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    frames: collections.Counter[str] = collections.Counter()
    unexpected = []
    for seed in args.seeds:
        scenario = demo_scenario(site="demo", seed=seed)
        rf_floors = rf_floor_tracks()  # as the hub keeps them
        for msg in scenario.messages(time.time_ns()):
            if "/frames/" not in msg.topic:
                continue
            frame = decode_frame(msg.payload)
            sensor = frame.header.sensor_id
            frames[sensor] += 1
            for d in detect_frame(frame, None, rf_floors):
                counts[(sensor, d.signature)] += 1
                if d.signature not in EXPECTED.get(sensor, set()):
                    unexpected.append((seed, round(msg.due_s, 2), sensor, d))
    print(f"seeds {args.seeds}: frames per sensor {dict(frames)}")
    print(f"{'sensor':16} {'signature':20} {'detections':>10}  expected")
    for (sensor, sig), n in sorted(counts.items()):
        ok = "yes" if sig in EXPECTED.get(sensor, set()) else "NO"
        print(f"{sensor:16} {sig:20} {n:10d}  {ok}")
    threat = [u for u in unexpected if u[3].kind != "other"]
    print(f"unexpected detections: {len(unexpected)} ({len(threat)} with a threat kind)")
    for seed, t, sensor, d in (threat + unexpected)[: args.show]:
        dur_us = (d.t_end - d.t_start).total_seconds() * 1e6
        print(
            f"  seed {seed} t={t:6.2f}s {sensor:15} {d.signature:18} kind={d.kind:8} "
            f"snr={d.snr_db:5.1f} dB bw={(d.bandwidth_hz or 0) / 1e3:7.1f} kHz "
            f"dur={dur_us:8.0f} us bursts={d.burst_count} conf={d.confidence:.2f}"
        )


if __name__ == "__main__":
    main()
