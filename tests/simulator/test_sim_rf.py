"""RF emitters and the link budget, measured on rendered IQ (SIGNALS.md §2, §5)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sensor_hub.codec import decode_frame
from simulator.demo import demo_scenario
from simulator.propagation import distance_m, received_power_dbm, thermal_noise_dbm
from simulator.rf_emitters import (
    GSM_FRAME_S,
    ElrsLink,
    GsmHandset,
    WifiAccessPoint,
)
from simulator.trajectory import Track
from tests.simulator._sim_helpers import occupied_bandwidth_hz, power_dbm, runs, wide_collector

RNG = np.random.default_rng(0)


def _elrs(pilot=(0.0, 150.0, 1.5), drone=(0.0, 80.0, 50.0)) -> ElrsLink:  # type: ignore[no-untyped-def]
    return ElrsLink("drone-t", pilot=Track.fixed(pilot), drone=Track.fixed(drone), seed=3)


# ---------------------------------------------------------------- link budget


def test_gsm_received_power_matches_link_budget() -> None:
    sc = demo_scenario(seed=1)
    c = sc.collector("rf-cellblock-a")
    k = 40  # 10 s: in call
    x = sc.render("rf-cellblock-a", k, include_noise=False)
    env = np.abs(x) ** 2
    keyed = env > 0.9 * env.max()
    phone = next(e for e in sc.rf_emitters if isinstance(e, GsmHandset))
    d = float(distance_m(phone.position.point(10.0), c.spec.position))
    expected = received_power_dbm(33.0, phone.carrier_hz, d, extra_loss_db=15.0)
    assert expected == pytest.approx(-34.6, abs=0.2)
    assert power_dbm(x[keyed], c.full_scale_dbm) == pytest.approx(expected, abs=0.5)


def test_elrs_received_power_matches_link_budget_for_pilot_and_drone() -> None:
    link = _elrs()
    c = wide_collector()
    x = c.render([link], 0.0, RNG, include_noise=False)
    bursts = list(link.bursts(0.0, c.frame_duration_s, 0))
    fs = c.sample_rate_hz
    checked = {"pilot": 0, "drone": 0}
    for b in bursts:
        d = float(distance_m(b.position_m, c.spec.position))
        k0 = int(np.ceil((b.start_s + d / 299_792_458.0) * fs)) + 10
        k1 = int((b.start_s + b.duration_s) * fs) - 10
        if k1 > len(x):
            continue
        expected = received_power_dbm(b.eirp_dbm, b.freq_hz, d)
        assert power_dbm(x[k0:k1], c.full_scale_dbm) == pytest.approx(expected, abs=0.5)
        checked[b.source_id.split("/")[1]] += 1
    assert checked["pilot"] >= 3


@pytest.mark.parametrize("sensor_id", ["rf-wall-n", "rf-cellblock-a"])
def test_noise_floor_after_ci16_matches_ktbf(sensor_id: str) -> None:
    sc = demo_scenario(seed=1)
    c = sc.collector(sensor_id)
    x = sc.render(sensor_id, 3, include_signals=False)
    frame = decode_frame(
        __import__("sensor_hub.codec", fromlist=["encode_samples"]).encode_samples(
            c.header(site="demo", seq=0, boot_id="t", t0_ns=0), x
        )
    )
    measured = power_dbm(frame.samples[0], c.full_scale_dbm)
    expected = thermal_noise_dbm(c.sample_rate_hz, c.noise_figure_db)
    assert measured == pytest.approx(expected, abs=0.5)


def test_strong_signals_do_not_clip_on_the_wall_sensor() -> None:
    sc = demo_scenario(seed=1)
    peaks = [np.abs(sc.render("rf-wall-n", k)).max() for k in range(200, 230, 3)]  # drone overhead
    assert max(peaks) < 0.5


# ---------------------------------------------------------------- GSM


def test_gsm_bursts_last_577us_and_repeat_every_frame() -> None:
    sc = demo_scenario(seed=1)
    c = sc.collector("rf-cellblock-a")
    x = sc.render("rf-cellblock-a", 40, include_noise=False)
    env = np.abs(x) ** 2
    bursts = [r for r in runs(env > 0.5 * env.max()) if r[0] > 0 and r[1] < len(x)]
    fs = c.sample_rate_hz
    widths = np.array([(b - a) / fs for a, b in bursts])
    assert len(widths) >= 8
    np.testing.assert_allclose(widths, 577e-6, rtol=0.03)
    gaps = np.diff([a / fs for a, _ in bursts])
    assert np.median(gaps) == pytest.approx(4.615e-3, rel=0.005)
    # every gap is one TDMA frame, or two across the idle frame of the 26-multiframe
    ratios = gaps / GSM_FRAME_S
    assert np.all(np.abs(ratios - np.round(ratios)) < 0.01)
    assert set(np.round(ratios).astype(int)) <= {1, 2}


def test_gsm_occupied_bandwidth_and_carrier() -> None:
    sc = demo_scenario(seed=1)
    c = sc.collector("rf-cellblock-a")
    x = sc.render("rf-cellblock-a", 40, include_noise=False)
    env = np.abs(x) ** 2
    a, b = next(r for r in runs(env > 0.5 * env.max()) if r[0] > 0)
    bw, centre = occupied_bandwidth_hz(x[a + 20 : b - 20], c.sample_rate_hz)
    assert 200e3 < bw < 320e3  # ≈250 kHz at 99 % (SIGNALS.md §2)
    assert centre == pytest.approx(898.0e6 - c.center_freq_hz, abs=10e3)


def test_no_gsm_before_the_call_starts() -> None:
    sc = demo_scenario(seed=1)
    x = sc.render("rf-cellblock-a", 0, include_noise=False)  # 0-50 ms, call starts at 1 s
    assert np.count_nonzero(x) == 0


# ---------------------------------------------------------------- ELRS


def _packets(c, x):  # type: ignore[no-untyped-def]
    env = np.abs(x) ** 2
    return [r for r in runs(env > 0.25 * env[env > 0].min()) if r[0] > 0 and r[1] < len(x)]


def test_elrs_packet_duration_bandwidth_and_hopping() -> None:
    link = _elrs(drone=(0.0, 150.0, 1.5))  # pilot and drone equally far: one level
    link.crystal_ppm = 0.0
    c = wide_collector(snapshot_s=26e-3)
    x = c.render([link], 0.0, RNG, include_noise=False)
    fs = c.sample_rate_hz
    packets = _packets(c, x)
    assert len(packets) >= 12
    durations = np.array([(b - a) / fs for a, b in packets])
    np.testing.assert_allclose(durations, 1.507e-3, rtol=0.01)
    starts = np.array([a / fs for a, _ in packets])
    np.testing.assert_allclose(np.diff(starts), 2e-3, rtol=0.01)
    channels = []
    for a, b in packets:
        bw, centre = occupied_bandwidth_hz(x[a:b], fs)
        assert bw == pytest.approx(812.5e3, rel=0.10)
        f = c.center_freq_hz + centre
        k = (f - 2400.4e6) / 1e6
        assert abs(k - round(k)) < 0.05  # on the 2400.4 + k MHz raster
        channels.append(round(k))
    # packets 0..3 on one channel, 4..7 on the next, ...: a change every 4 packets
    groups = [channels[i : i + 4] for i in range(0, len(channels) - 3, 4)]
    assert all(len(set(g)) == 1 for g in groups)
    assert all(g1[0] != g2[0] for g1, g2 in itertools.pairwise(groups))
    assert channels[0] == 40  # each pass starts on the sync channel


def test_elrs_hop_sequence_covers_80_channels() -> None:
    link = _elrs()
    first_pass = link.hop_sequence[:80]
    assert sorted(first_pass.tolist()) == list(range(80))
    assert len({link.channel_hz(p) for p in range(0, 4 * 160, 4)}) == 80


def test_elrs_telemetry_comes_from_the_drone() -> None:
    link = _elrs()
    sources = [b.source_id for b in link.bursts(0.0, 0.2, 0)]
    assert sum(s.endswith("/drone") for s in sources) == pytest.approx(len(sources) / 16, abs=1)


# ---------------------------------------------------------------- Wi-Fi


def test_wifi_beacons_every_102_4_ms_with_lstf_periodicity() -> None:
    ap = WifiAccessPoint("ap", Track.fixed((0.0, 50.0, 5.0)), seed=1, data_rate_per_s=0.0)
    beacons = list(ap.bursts(0.0, 1.0, 0))
    np.testing.assert_allclose(np.diff([b.start_s for b in beacons]), 0.1024)
    x = beacons[0].waveform(0.0, 20e6, 8000, 0.0)
    stf = x[:160]
    corr = np.abs(np.vdot(stf[:-16], stf[16:])) / np.vdot(stf[:-16], stf[:-16]).real
    assert corr > 0.95  # L-STF repeats every 16 samples at 20 MS/s
    assert np.mean(np.abs(x[: round(0.4e-3 * 20e6)]) ** 2) == pytest.approx(1.0, rel=0.05)


def test_wifi_renders_at_25_msps_on_channel_6() -> None:
    sc = demo_scenario(seed=1)
    c = sc.collector("rf-wall-n")
    ap = next(e for e in sc.rf_emitters if isinstance(e, WifiAccessPoint))
    for k in range(40):
        t0 = c.frame_start_s(k)
        if any(True for _ in ap.bursts(t0, t0 + c.frame_duration_s, 0)):
            break
    x = c.render([ap], t0, RNG, include_noise=False)
    on = np.abs(x) > 0
    bw, centre = occupied_bandwidth_hz(x[on], c.sample_rate_hz)
    assert 15e6 < bw < 18.5e6
    assert abs(centre) < 0.3e6
