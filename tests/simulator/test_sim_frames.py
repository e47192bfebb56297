"""The frame contract, determinism, the demo's ground truth and live publishing."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import math
import time

import numpy as np
import pytest

from sensor_hub.codec import decode_frame
from sensor_hub.localise import point_in_polygon
from sensor_hub.schemas import SensorStatusMessage
from sensor_hub.topics import FrameTopic, StatusTopic, parse_topic
from simulator.collectors import RfCollector, run_live
from simulator.demo import Message, Scenario, demo_scenario

START_NS = 1_750_000_000_000_000_000


def _first(sc: Scenario, n: int, **kw) -> list[Message]:  # type: ignore[no-untyped-def]
    return list(itertools.islice(sc.messages(START_NS, **kw), n))


def test_demo_site_sensors_and_zones() -> None:
    sc = demo_scenario()
    assert sc.site == "demo"
    assert sc.duration_s == pytest.approx(90.0)
    assert {s.sensor_id: s.modality for s in sc.sensors} == {
        "rf-wall-n": "rf", "rf-cellblock-a": "rf", "mic-wall-n": "acoustic",
    }  # fmt: skip
    assert set(sc.zones) == {"outer-perimeter", "yard", "cell-block-a"}
    for s in sc.sensors:
        assert point_in_polygon(s.position[0], s.position[1], sc.zones[s.zone])
    hover = sc.position_of("drone-1", 45.0)
    assert point_in_polygon(hover[0], hover[1], sc.zones["yard"])
    assert point_in_polygon(*sc.position_of("drone-1", 0.0)[:2], sc.zones["outer-perimeter"])
    assert point_in_polygon(*sc.position_of("handset-1", 10.0)[:2], sc.zones["cell-block-a"])


def test_truth_intervals() -> None:
    truth = {(t.emitter_id, t.signature): t for t in demo_scenario().truth()}
    assert truth[("drone-1", "rotor_harmonics")].kind == "drone"
    assert truth[("drone-1", "elrs_2g4")].start_s == 0.0
    phone = truth[("handset-1", "gsm_uplink")]
    assert (phone.kind, phone.start_s, phone.end_s) == ("handset", 1.0, 61.0)
    assert truth[("wifi-ap-1", "wifi_ap")].kind == "other"


def test_messages_are_in_due_order_with_status_first() -> None:
    msgs = _first(demo_scenario(), 40)
    assert [m.due_s for m in msgs] == sorted(m.due_s for m in msgs)
    status = [m for m in msgs if isinstance(parse_topic(m.topic), StatusTopic)]
    assert len(status) == 3 and all(m.due_s == 0.0 and m.retain for m in status)
    body = SensorStatusMessage.model_validate(json.loads(status[0].payload))
    assert body.state == "online" and body.t == pytest.approx(START_NS / 1e9)
    frames = [m for m in msgs if isinstance(parse_topic(m.topic), FrameTopic)]
    assert all(m.qos == 1 and not m.retain for m in frames)


def test_frames_decode_with_the_right_headers() -> None:
    sc = demo_scenario()
    seen: dict[str, list[int]] = {}
    for m in _first(sc, 40):
        topic = parse_topic(m.topic)
        if not isinstance(topic, FrameTopic):
            continue
        frame = decode_frame(m.payload)
        h = frame.header
        c = sc.collector(h.sensor_id)
        assert (h.site, h.sensor_id, h.kind) == (topic.site, topic.sensor_id, topic.kind)
        assert h.boot_id == sc.default_boot_id and h.position is None
        seen.setdefault(h.sensor_id, []).append(h.seq)
        k = h.seq
        assert h.t0_ns == START_NS + round(c.frame_start_s(k) * 1e9)
        assert m.due_s == pytest.approx(c.frame_start_s(k) + h.duration_s)
        if isinstance(c, RfCollector):
            assert h.datatype == "ci16_le" and h.center_freq_hz == c.center_freq_hz
            assert h.full_scale_dbm == c.full_scale_dbm and h.gain_db is not None
            assert frame.samples.dtype == np.complex64
        else:
            assert (h.datatype, h.sample_rate_hz, h.num_samples) == ("ri16_le", 16000.0, 16000)
            assert h.full_scale_db_spl == 120.0
    assert seen["rf-wall-n"][:5] == [0, 1, 2, 3, 4]
    hdr = decode_frame(next(m for m in _first(sc, 10) if "rf-wall-n/frames" in m.topic).payload)
    assert (hdr.header.sample_rate_hz, hdr.header.num_samples) == (25e6, 500_000)
    assert hdr.header.center_freq_hz == 2437e6


def test_second_loop_continues_seq_and_time() -> None:
    sc = dataclasses.replace(demo_scenario(), duration_s=1.0)
    msgs = list(sc.messages(START_NS, loop_index=1))
    wall = [decode_frame(m.payload).header for m in msgs if "rf-wall-n/frames" in m.topic]
    assert [h.seq for h in wall] == list(range(5, 10))  # 5 snapshots per second


def test_same_seed_gives_identical_bytes() -> None:
    a = _first(demo_scenario(seed=7), 30)
    b = _first(demo_scenario(seed=7), 30)
    c = _first(demo_scenario(seed=8), 30)
    assert [m.payload for m in a] == [m.payload for m in b]
    frames = [i for i, m in enumerate(a) if "/frames/" in m.topic]
    assert all(a[i].payload != c[i].payload for i in frames)


def test_drone_rf_visible_early() -> None:
    """The ELRS link must put energy in the wall sensor's band within the first seconds."""
    sc = demo_scenario()
    c = sc.collector("rf-wall-n")
    noise_per_sample = 10 ** ((c.noise_dbm - c.full_scale_dbm) / 10)
    hits = 0
    for k in range(10):  # the first 2 s
        x = sc.render("rf-wall-n", k, include_noise=False)
        hits += bool(np.max(np.abs(x) ** 2) > 100 * noise_per_sample)
    assert hits >= 4


def test_link_budgets_over_the_trajectory() -> None:
    sc = demo_scenario()
    at = {(b.emitter_id, b.sensor_id, b.unit): b for b in sc.link_budgets(45.0)}
    assert at[("drone-1/drone", "rf-wall-n", "dBm")].snr_db > 40
    assert at[("handset-1", "rf-cellblock-a", "dBm")].level_db == pytest.approx(-34.6, abs=0.2)
    early = {(b.emitter_id, b.unit): b for b in sc.link_budgets(0.0) if b.sensor_id == "mic-wall-n"}
    # one rotor's comb line over the 1 Hz ambience at 260 m (the four rotors' lines sit
    # several Hz apart, so a 1 Hz bin holds one: 6 dB under the comb's total)
    assert early[("drone-1", "dB SPL")].snr_db > 3


def test_generation_cost(capsys: pytest.CaptureFixture[str]) -> None:
    sc = demo_scenario()
    for sid in ("rf-wall-n", "rf-cellblock-a", "mic-wall-n"):
        sc.frame_bytes(sid, 1, start_time_ns=START_NS)
        t = time.perf_counter()
        for k in range(2, 7):
            sc.frame_bytes(sid, k, start_time_ns=START_NS)
        per = (time.perf_counter() - t) / 5
        with capsys.disabled():
            print(f"\n{sid}: {per * 1e3:.1f} ms per frame (render + encode)")


def test_run_live_publishes_a_pass_and_stops() -> None:
    sc = dataclasses.replace(demo_scenario(), duration_s=1.0)
    got: list[tuple[str, int, bool]] = []

    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        got.append((topic, qos, retain))

    n = asyncio.run(run_live(sc, publish, speed=100.0, loop=False))
    assert n == len(got) == 3 + 5 + 4 + 1  # status per sensor + frames
    assert sum(r for _, _, r in got) == 3

    elapsed: list[float] = []

    async def looped() -> int:
        stop = asyncio.Event()
        t0 = time.perf_counter()
        task = asyncio.create_task(run_live(sc, publish, speed=20.0, loop=True, stop=stop))
        await asyncio.sleep(0.3)
        stop.set()
        sent = await asyncio.wait_for(task, 5.0)
        elapsed.append(time.perf_counter() - t0)  # a loaded machine oversleeps
        return sent

    got.clear()
    sent = asyncio.run(looped())
    # paced: t s at 20x is 20 t scenario seconds of 1 s passes (10 frames each), plus the
    # pass under way and the statuses; unpaced it would be thousands
    passes = math.ceil(20.0 * elapsed[0]) + 1
    assert 0 < sent == len(got) <= 3 + 10 * passes
