"""Drone emitters measured on rendered IQ against SIGNALS.md §2 (DJI, FrSky, FPV, Wi-Fi)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d
from scipy.signal import resample_poly

from simulator.collectors import RfCollector
from simulator.ofdm import ofdm_modulate
from simulator.rf_drones import (
    DRONEID_2G4_HZ,
    DRONEID_CP,
    DjiDroneId,
    DjiOcuSyncVideo,
    droneid_zc_carriers,
)
from simulator.rf_hobby_drones import FpvAnalogVideo, FrskyD16, WifiDrone
from simulator.trajectory import Track
from tests.simulator._sim_helpers import occupied_bandwidth_hz, runs, wide_collector

DRONE = Track.fixed((0.0, 100.0, 50.0))
PILOT = Track.fixed((0.0, 150.0, 1.5))


def _collector(fc: float, fs: float = 25e6, snapshot_s: float = 20e-3) -> RfCollector:
    # full scale well above any level here: no ADC clipping in noise-free renders
    return wide_collector(
        center_freq_hz=fc, sample_rate_hz=fs, snapshot_s=snapshot_s, full_scale_dbm=30.0
    )


def _render(c: RfCollector, em: object, t0: float, loop_index: int = 0) -> NDArray[np.complex64]:
    return c.render([em], t0, np.random.default_rng(0), loop_index, include_noise=False)  # type: ignore[list-item]


def _keyed_runs(
    x: NDArray[np.complex64], fs: float, smooth_s: float = 1e-6
) -> list[tuple[int, int]]:
    """Bursts as runs of the smoothed envelope above 10 % of its keyed mean (OFDM dips)."""
    env = uniform_filter1d(np.abs(x) ** 2, max(1, round(smooth_s * fs)))
    level = np.mean(env[env > 0.01 * env.max()])
    return [r for r in runs(env > 0.1 * level) if r[0] > 0 and r[1] < len(x)]


# ---------------------------------------------------------------- DJI DroneID


def test_droneid_burst_lasts_643us_occupies_9mhz_and_repeats_620ms() -> None:
    em = DjiDroneId("dji", DRONE, seed=4)
    b0, b1 = list(em.bursts(0.0, 1.3, 0))[:2]
    c = _collector(em.channel_hz(0))
    fs, starts = c.sample_rate_hz, []
    for b in (b0, b1):
        t0 = b.start_s - 2e-3
        x = _render(c, em, t0)
        (a, z), *others = _keyed_runs(x, fs)
        assert not others
        assert (z - a) / fs == pytest.approx(643.2e-6, rel=0.03)
        bw, centre = occupied_bandwidth_hz(x[a:z], fs)
        assert bw == pytest.approx(8.95e6, rel=0.10)
        assert abs(centre) < 0.2e6
        starts.append(t0 + a / fs)
    assert starts[1] - starts[0] == pytest.approx(0.62, abs=2e-6)


def test_droneid_zc_symbols_correlate_with_roots_600_and_147() -> None:
    em = DjiDroneId("dji", DRONE, seed=4)
    b = next(iter(em.bursts(0.0, 1.0, 0)))
    c = _collector(em.channel_hz(0))
    x = _render(c, em, b.start_s - 1e-3)
    y = resample_poly(x, 384, 625)  # back to 15.36 MS/s
    env = uniform_filter1d(np.abs(y) ** 2, 16)
    start = int(np.argmax(env > 0.1 * env.max())) + 8  # smoothing delay

    def template(root: int) -> NDArray[np.complex128]:
        return ofdm_modulate(droneid_zc_carriers(root)[None, :], 1024, [0])

    for sym, root, other in ((3, 600, 147), (5, 147, 600)):
        pos = start + sum(DRONEID_CP[: sym + 1]) + 1024 * sym
        scores = {}
        for r in (root, other):
            t = template(r)
            best = max(
                abs(np.vdot(t, y[pos + lag : pos + lag + 1024]))
                / (np.linalg.norm(t) * np.linalg.norm(y[pos + lag : pos + lag + 1024]))
                for lag in range(-12, 13)
            )
            scores[r] = best
        assert scores[root] > 0.8, (sym, scores)  # integer lags only: sub-sample loss
        assert scores[other] < 0.2, (sym, scores)


def test_droneid_13_bursts_per_channel_then_hop_on_the_raster() -> None:
    em = DjiDroneId("dji", DRONE, seed=9)
    bursts = list(em.bursts(0.0, 40 * 0.62, 0))
    chans = [em.channel_hz(k) for k in range(len(bursts))]
    assert len(set(chans[:13])) == 1
    assert chans[13] != chans[12] and len(set(chans[13:26])) == 1
    assert chans[26] != chans[25]
    # measured on samples: a 100 MS/s receiver spanning the raster sees each burst there
    c = _collector(2437e6, fs=100e6, snapshot_s=1e-3)
    for k in (0, 12, 13, 26):
        x = _render(c, em, bursts[k].start_s - 0.1e-3)
        _, centre = occupied_bandwidth_hz(x[np.abs(x) > 0], c.sample_rate_hz)
        f = c.center_freq_hz + centre
        assert min(abs(f - r) for r in DRONEID_2G4_HZ) < 0.2e6
        assert f == pytest.approx(chans[k], abs=0.2e6)


# ---------------------------------------------------------------- OcuSync video


@pytest.mark.parametrize(("bw_hz", "occupied_hz"), [(10e6, 8.95e6), (20e6, 17.95e6)])
def test_ocusync_5ms_frames_66_to_77_percent_on(bw_hz: float, occupied_hz: float) -> None:
    em = DjiOcuSyncVideo("ocu", DRONE, seed=2, channel_bandwidth_hz=bw_hz, center_freq_hz=2410e6)
    c = _collector(2410e6, fs=25e6, snapshot_s=27e-3)
    fs = c.sample_rate_hz
    x = _render(c, em, 0.001)
    bursts = _keyed_runs(x, fs)
    assert len(bursts) >= 4
    starts = np.array([a for a, _ in bursts]) / fs
    np.testing.assert_allclose(np.diff(starts), 5e-3, atol=1e-6)
    duty = np.array([(z - a) / fs for a, z in bursts]) / 5e-3
    assert np.all((duty >= 0.655) & (duty <= 0.775)), duty
    a, z = bursts[0]
    bw, centre = occupied_bandwidth_hz(x[a:z], fs)
    assert bw == pytest.approx(occupied_hz, rel=0.05)
    assert abs(centre) < 0.2e6


# ---------------------------------------------------------------- FrSky D16


def test_frsky_hop_list_is_47_channels_of_the_raster() -> None:
    em = FrskyD16("frsky", PILOT, DRONE, seed=5)
    hops = em.hop_channels
    assert len(set(hops)) == 47
    assert all(0 <= k < 235 and k not in (0, 90, 220) for k in hops)
    assert 1 <= em.chanskip < 47
    # the packet sequence visits all 47 entries once per 47 packets
    assert len({em.channel_hz(p) for p in range(47)}) == 47


def test_frsky_packets_4_5ms_every_9ms_on_the_299_93khz_raster() -> None:
    em = FrskyD16("frsky", PILOT, DRONE, seed=5, telemetry=False)
    c = _collector(2439.25e6, fs=100e6, snapshot_s=6e-3)
    fs, starts = c.sample_rate_hz, []
    for p in range(6):
        t0 = p * 9e-3 - 0.5e-3
        x = _render(c, em, t0)
        env = np.abs(x)
        ((a, z),) = runs(env > 0.5 * env.max())
        assert (z - a) / fs == pytest.approx(4.5e-3, rel=0.01)
        assert np.std(env[a:z]) < 1e-3 * np.mean(env[a:z])  # constant envelope
        bw, centre = occupied_bandwidth_hz(x[a:z], fs)
        assert 120e3 < bw < 230e3  # Carson ≈185 kHz
        k = (c.center_freq_hz + centre - 2404.0e6) / 299.93e3
        assert abs(k - round(k)) < 0.1
        assert round(k) == em.hop_channels[(p * em.chanskip) % 47]
        starts.append(t0 + a / fs)
    np.testing.assert_allclose(np.diff(starts), 9e-3, atol=1e-6)


def test_frsky_telemetry_reply_comes_from_the_drone_on_the_same_channel() -> None:
    em = FrskyD16("frsky", PILOT, DRONE, seed=5)
    bursts = list(em.bursts(0.0, 0.05, 0))
    tx = [b for b in bursts if b.source_id.endswith("/pilot")]
    rx = [b for b in bursts if b.source_id.endswith("/drone")]
    assert len(tx) >= len(rx) >= 5
    for a, b in zip(tx, rx, strict=False):
        assert b.start_s - a.start_s == pytest.approx(5.2e-3)
        assert b.freq_hz == a.freq_hz
        assert b.position_m == DRONE.point(0.0)


# ---------------------------------------------------------------- analog FPV


def test_fpv_fm_constant_envelope_bandwidth_line_and_field_rate() -> None:
    em = FpvAnalogVideo("fpv", DRONE, seed=3, band="R", channel=1)
    assert em.carrier_hz == 5658e6
    c = _collector(5658e6, fs=25e6, snapshot_s=45e-3)
    fs = c.sample_rate_hz
    x = _render(c, em, 0.0)[10:]
    env = np.abs(x)
    assert np.std(env) < 1e-3 * np.mean(env)
    bw, _ = occupied_bandwidth_hz(x[: 1 << 19], fs)
    assert 15e6 <= bw <= 20e6
    f_inst = np.angle(x[1:] * np.conj(x[:-1])) * fs / (2 * np.pi)
    assert np.max(np.abs(f_inst)) < 1.02 * em.peak_deviation_hz  # no jump at the 40 ms join
    spec = np.abs(np.fft.rfft(f_inst[: 1 << 20] - f_inst.mean()))
    freqs = np.fft.rfftfreq(1 << 20, 1 / fs)
    band = (freqs > 10e3) & (freqs < 20e3)
    assert freqs[band][np.argmax(spec[band])] == pytest.approx(15.625e3, abs=30)
    # broad vertical-sync pulses (sync level for > 20 µs) come once per 20 ms field
    sync = uniform_filter1d((f_inst < -0.9 * em.peak_deviation_hz).astype(float), 500)
    pulses = [a / fs for a, b in runs(sync > 0.99)]
    fields = np.unique(np.round(np.array(pulses) / 20e-3))
    assert len(fields) >= 2
    firsts = [min(p for p in pulses if round(p / 20e-3) == f) for f in fields]
    np.testing.assert_allclose(np.diff(firsts), 20e-3, atol=0.2e-3)


# ---------------------------------------------------------------- Wi-Fi drone


def test_wifi_drone_beacons_every_102_4ms_and_video_frames() -> None:
    em = WifiDrone("tello", DRONE, seed=1, channel=6)
    beacons = list(em._beacons().bursts(0.0, 1.0, 0))
    np.testing.assert_allclose(np.diff([b.start_s for b in beacons]), 0.1024)
    bursts = list(em.bursts(0.0, 1.0, 0))
    assert len(bursts) > 100
    video = sorted(f for b in range(100) for f in em.video_frames(b, 0))
    ends = np.array([s + d for s, d in video])
    assert np.all(np.array([s for s, _ in video])[1:] >= ends[:-1])  # back to back, no overlap
    airtime = sum(d for _, d in video) / 1.0
    assert 0.2 < airtime < 0.4
    c = _collector(2437e6)
    x = _render(c, em, 0.0)
    on = np.abs(x) > 0
    bw, centre = occupied_bandwidth_hz(x[on], c.sample_rate_hz)
    assert 15e6 < bw < 18.5e6
    assert abs(centre) < 0.3e6


# ---------------------------------------------------------------- determinism and cost


def _drones() -> list[tuple[object, float]]:
    return [
        (DjiDroneId("dji", DRONE, seed=7, period_s=0.01), DRONEID_2G4_HZ[0]),
        (DjiOcuSyncVideo("ocu", DRONE, seed=7), 2406.5e6),
        (FrskyD16("frsky", PILOT, DRONE, seed=7), 2440e6),
        (FpvAnalogVideo("fpv", DRONE, seed=7), 5658e6),
        (WifiDrone("wifi", DRONE, seed=7), 2437e6),
    ]


def test_same_seed_gives_identical_samples_and_loops_differ() -> None:
    for (em, fc), (twin, _) in zip(_drones(), _drones(), strict=True):
        c = _collector(fc, fs=25e6, snapshot_s=5e-3)
        if isinstance(em, FrskyD16):
            c = _collector(em.channel_hz(0), fs=25e6, snapshot_s=5e-3)
        t0 = 0.0
        if isinstance(em, DjiDroneId):
            c = _collector(em.channel_hz(0), fs=25e6, snapshot_s=5e-3)
            t0 = em.first_burst_s
        a, b = _render(c, em, t0), _render(c, twin, t0)
        assert np.count_nonzero(a) > 0, em
        assert np.array_equal(a, b), em
        if not isinstance(em, FpvAnalogVideo):  # a static picture: loops differ in phase only
            assert not np.array_equal(a, _render(c, em, t0, loop_index=1)), em


def test_render_cost_25msps_20ms() -> None:
    costs = {}
    for em, fc in _drones():
        if isinstance(em, DjiDroneId | FrskyD16):
            fc = em.channel_hz(0)
        c = _collector(fc)
        c.render([em], 0.0, np.random.default_rng(0))  # type: ignore[list-item]
        t = time.perf_counter()
        c.render([em], 0.02, np.random.default_rng(0))  # type: ignore[list-item]
        costs[type(em).__name__] = time.perf_counter() - t
    print(
        "render cost, 25 MS/s x 20 ms with noise:",
        {k: f"{v * 1e3:.0f} ms" for k, v in costs.items()},
    )
    assert max(costs.values()) < 1.0
