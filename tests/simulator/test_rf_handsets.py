"""Handset emitters measured on rendered IQ against SIGNALS.md §2–§3 (LTE, PRACH, Wi-Fi, BLE)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.signal import resample_poly

from simulator.collectors import RfCollector
from simulator.ofdm import zadoff_chu
from simulator.propagation import distance_m, received_power_dbm
from simulator.rf_handsets import LtePrach, LteUplink
from simulator.rf_handsets_wlan import BLE_ADV_CHANNELS_HZ, BleAdvertiser, WifiProbe
from simulator.trajectory import Track
from tests.simulator._sim_helpers import occupied_bandwidth_hz, power_dbm, runs, wide_collector

PHONE = Track.fixed((0.0, 50.0, 1.5))
CARRIER_HZ = 847e6


def _collector(fc: float, fs: float, snapshot_s: float) -> RfCollector:
    return wide_collector(
        center_freq_hz=fc, sample_rate_hz=fs, snapshot_s=snapshot_s, full_scale_dbm=30.0
    )


def _render(c: RfCollector, em: object, t0: float, loop_index: int = 0) -> NDArray[np.complex64]:
    return c.render([em], t0, np.random.default_rng(0), loop_index, include_noise=False)  # type: ignore[list-item]


def _psd_db(
    x: NDArray[np.complex64], fs: float, n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    spec = np.abs(np.fft.fftshift(np.fft.fft(x * np.hanning(len(x)), n))) ** 2
    return np.fft.fftshift(np.fft.fftfreq(n, 1 / fs)), 10 * np.log10(spec + 1e-30)


def _occupied_span_hz(x: NDArray[np.complex64], fs: float) -> tuple[float, float]:
    """(low, high) half-power edges re the in-band median, 1 kHz resolution."""
    f, p = _psd_db(x, fs, 1 << int(np.ceil(np.log2(fs / 1e3))))
    p = np.convolve(p, np.ones(5) / 5, mode="same")
    ref = np.median(p[p > p.max() - 30])
    occ = f[p > ref - 6]
    return float(occ.min()), float(occ.max())


# ---------------------------------------------------------------- LTE uplink


def test_lte_volte_subframes_last_1ms_on_the_subframe_grid() -> None:
    ue = LteUplink("ue", PHONE, seed=3, behaviour="volte", start_s=0.0)
    c = _collector(CARRIER_HZ, 15.36e6, 60e-3)
    fs = c.sample_rate_hz
    x = _render(c, ue, 0.0)
    bursts = [r for r in runs(np.abs(x) > 0) if r[1] < len(x)]
    assert len(bursts) >= 5
    for a, z in bursts:
        assert (z - a) / fs == pytest.approx(1e-3, abs=2 / fs)
        delay = 50.02 / 299_792_458.0
        t = a / fs - delay
        assert abs(t * 1e3 - round(t * 1e3)) < 2 / fs * 1e3  # on the 1 ms grid


def test_lte_received_power_matches_link_budget_with_wall_loss() -> None:
    ue = LteUplink("ue", PHONE, seed=3, behaviour="data", eirp_dbm=10.0, extra_loss_db=20.0)
    c = _collector(CARRIER_HZ, 15.36e6, 10e-3)
    x = _render(c, ue, 0.0)
    d = float(distance_m(PHONE.point(0.0), c.spec.position))
    expected = received_power_dbm(10.0, CARRIER_HZ, d, extra_loss_db=20.0)
    assert power_dbm(x[np.abs(x) > 0], c.full_scale_dbm) == pytest.approx(expected, abs=0.5)


def test_lte_pusch_occupies_whole_prbs_of_180khz() -> None:
    ue = LteUplink("ue", PHONE, seed=11, behaviour="data", harq_bler=0.0)
    c = _collector(CARRIER_HZ, 15.36e6, 1e-3)
    fs = c.sample_rate_hz
    carrier_low = -25 * 180e3  # 50 PRBs around the carrier
    checked = 0
    for b in ue.bursts(0.0, 0.03, 0):
        if not b.source_id.endswith("/pusch"):
            continue
        x = b.waveform(0.0, fs, round(b.duration_s * fs), b.freq_hz - CARRIER_HZ)
        lo, hi = _occupied_span_hz(x, fs)
        n_prb = (hi - lo) / 180e3
        assert abs(n_prb - round(n_prb)) < 0.12, (lo, hi)
        assert round(n_prb) == round(b.bandwidth_hz / 180e3)
        first = (lo - carrier_low) / 180e3
        assert abs(first - round(first)) < 0.12, (lo, hi)
        checked += 1
    assert checked >= 10


def test_lte_pucch_sits_on_both_edges_swapping_each_slot() -> None:
    ue = LteUplink("ue", PHONE, seed=3, behaviour="volte")
    b = next(b for b in ue.bursts(0.0, 0.1, 0) if b.source_id.endswith("/pucch"))
    fs = 15.36e6
    x = b.waveform(0.0, fs, round(b.duration_s * fs), b.freq_hz - CARRIER_HZ)
    half = len(x) // 2
    centres = []
    for seg in (x[:half], x[half:]):
        lo, hi = _occupied_span_hz(seg, fs)
        assert hi - lo < 0.3e6  # one PRB
        centres.append(0.5 * (lo + hi))
    assert np.sign(centres[0]) == -np.sign(centres[1])
    assert min(abs(centres[0]), abs(centres[1])) > 4.0e6  # within the outer PRBs of 9 MHz
    assert centres[0] == pytest.approx(-centres[1], abs=20e3)  # mirror images: m and N−1−m


def test_lte_harq_retransmission_8ms_later_on_the_same_prbs() -> None:
    ue = LteUplink("ue", PHONE, seed=5, behaviour="volte", harq_bler=1.0)
    c = _collector(CARRIER_HZ, 15.36e6, 60e-3)
    fs = c.sample_rate_hz
    x = _render(c, ue, 0.0)
    spans = {}
    for a, z in runs(np.abs(x) > 0):
        if z - a < 0.9e-3 * fs or z >= len(x):
            continue
        lo, hi = _occupied_span_hz(x[a:z], fs)
        if hi - lo < 3e6:  # PUSCH, not the edge-to-edge PUCCH
            spans[round(a / fs * 1e3)] = (lo, hi)
    pairs = [(t, t + 8) for t in spans if t + 8 in spans]
    assert len(pairs) >= 2
    for t, u in pairs:  # the same PRBs (edges counted in 180 kHz from the carrier's edge)
        first, again = (np.round((np.array(spans[v]) + 25 * 180e3) / 180e3) for v in (t, u))
        np.testing.assert_array_equal(first, again)
    firsts = sorted(t for t, _ in pairs)
    assert all(d % 20 == 0 for d in np.diff(firsts))  # new voice packet every 20 ms


def test_lte_idle_handset_opens_short_sessions() -> None:
    ue = LteUplink("ue", PHONE, seed=2, behaviour="idle", idle_session_interval_s=60.0)
    sessions = ue.sessions(3600.0, 0)
    assert 30 < len(sessions) < 100
    assert all(0.1 <= b - a <= 2.0 for a, b in sessions)
    a, b = sessions[0]
    assert not list(ue.bursts(a - 0.5, a, 0))
    assert len(list(ue.bursts(a, b, 0))) > 0.3 * (b - a) / 1e-3


# ---------------------------------------------------------------- PRACH


def test_prach_is_1_08mhz_by_0_9ms_with_zc_839() -> None:
    prach = LtePrach("ue", PHONE, seed=1, access_times_s=(0.0102,), root=129)
    (b,) = list(prach.bursts(0.0, 1.0, 0))
    assert b.start_s == pytest.approx(0.011)  # next subframe boundary
    c = _collector(CARRIER_HZ, 25e6, 2e-3)
    fs = c.sample_rate_hz
    x = _render(c, prach, 0.0105)
    ((a, z),) = runs(np.abs(x) > 0)
    assert (z - a) / fs == pytest.approx(903.1e-6, rel=0.01)
    bw, centre = occupied_bandwidth_hz(x[a:z], fs)
    assert 0.95e6 < bw <= 1.08e6
    assert abs(centre) < 60e3  # centred block, near DC
    # eNB-style detection at 1.92 MS/s: 839 bins × conj(DFT of the root ZC) → one peak
    y = resample_poly(x[a:z], 48, 625)
    seq = y[198 : 198 + 1536]
    spec = np.fft.fftshift(np.fft.fft(seq))[768 - 419 : 768 + 420]
    for root, good in ((129, True), (130, False)):
        ref = np.fft.fftshift(np.fft.fft(zadoff_chu(root, 839)))
        corr = np.abs(np.fft.ifft(spec * np.conj(ref)))
        ratio = corr.max() / corr.mean()
        assert (ratio > 20) if good else (ratio < 8), (root, ratio)


def test_prach_poisson_access_events() -> None:
    prach = LtePrach("ue", PHONE, seed=1, mean_interval_s=60.0)
    events = prach.events(3600.0, 0)
    assert 40 < len(events) < 90
    assert events == sorted(events)


# ---------------------------------------------------------------- Wi-Fi probes


def test_wifi_probe_burst_steps_across_channels() -> None:
    probe = WifiProbe("ph", PHONE, seed=4)
    t0 = probe.scan_start_s(0)
    scan = list(probe.bursts(t0, t0 + 0.5, 0))
    chans = [round((b.freq_hz - 2407e6) / 5e6) for b in scan]
    assert chans == sorted(chans) and set(chans) == set(range(1, 14))
    firsts = [
        next(b.start_s for b in scan if round((b.freq_hz - 2407e6) / 5e6) == ch)
        for ch in range(1, 14)
    ]
    assert 10e-3 < float(np.median(np.diff(firsts))) < 100e-3  # tens of ms per channel
    assert all(0.1e-3 <= b.duration_s <= 0.5e-3 for b in scan)
    assert 20.0 < probe.scan_start_s(1) - t0 < 40.0
    c = _collector(2442e6, 100e6, 1e-3)
    for b in (scan[0], scan[-1]):
        x = _render(c, probe, b.start_s - 0.1e-3)
        on = np.abs(x) > 0
        bw, centre = occupied_bandwidth_hz(x[on], c.sample_rate_hz)
        assert 15e6 < bw < 18.5e6
        assert c.center_freq_hz + centre == pytest.approx(b.freq_hz, abs=0.5e6)


# ---------------------------------------------------------------- BLE


def test_ble_adverts_on_three_channels_within_376us() -> None:
    ble = BleAdvertiser("ph", PHONE, seed=6, interval_s=0.1, pdu_payload_bytes=37)
    t0 = ble.event_start_s(3, 0)
    c = _collector(2441e6, 100e6, 2.5e-3)
    fs = c.sample_rate_hz
    x = _render(c, ble, t0 - 0.2e-3)
    bursts = runs(np.abs(x) > 0)
    assert len(bursts) == 3
    for (a, z), channel in zip(bursts, BLE_ADV_CHANNELS_HZ, strict=True):
        assert (z - a) / fs <= 376e-6 + 2 / fs
        assert (z - a) / fs == pytest.approx(376e-6, abs=2e-6)
        bw, centre = occupied_bandwidth_hz(x[a:z], fs)
        assert 0.8e6 < bw < 1.5e6
        assert c.center_freq_hz + centre == pytest.approx(channel, abs=50e3)
    gaps = np.diff([a for a, _ in bursts]) / fs
    np.testing.assert_allclose(gaps, 0.6e-3, atol=1e-6)
    intervals = np.diff([ble.event_start_s(k, 0) for k in range(200)])
    assert np.all((intervals >= 0.1) & (intervals <= 0.11))
    assert np.std(intervals) > 2e-3  # advDelay jitter


def test_ble_rejects_out_of_spec_settings() -> None:
    with pytest.raises(ValueError, match="pdu_payload_bytes"):
        BleAdvertiser("ph", PHONE, seed=6, pdu_payload_bytes=40)
    with pytest.raises(ValueError, match="interval_s"):
        BleAdvertiser("ph", PHONE, seed=6, interval_s=0.01)


# ---------------------------------------------------------------- fading, determinism, cost


def test_rayleigh_fading_per_burst_has_unit_mean_power() -> None:
    ue = LteUplink("ue", PHONE, seed=3, behaviour="data", fading="rayleigh")
    gains = np.array([abs(b.gain) ** 2 for b in ue.bursts(0.0, 1.0, 0)])
    assert len(gains) > 500
    assert np.mean(gains) == pytest.approx(1.0, rel=0.15)
    assert np.mean(gains < 0.1) == pytest.approx(1 - np.exp(-0.1), abs=0.04)


def _handsets() -> list[tuple[object, float, float]]:
    return [
        (LteUplink("ue", PHONE, seed=7, behaviour="data", srs_period_s=5e-3), CARRIER_HZ, 0.0),
        (LtePrach("ue-ra", PHONE, seed=7, access_times_s=(0.002,)), CARRIER_HZ, 0.0),
        (WifiProbe("ph", PHONE, seed=7, scan_jitter_s=0.0), 2442e6, 0.0),
        (BleAdvertiser("ph", PHONE, seed=7, interval_s=0.02), 2441e6, 0.0),
    ]


def test_same_seed_gives_identical_samples_and_loops_differ() -> None:
    for (em, fc, t0), (twin, _, _) in zip(_handsets(), _handsets(), strict=True):
        c = _collector(fc, 100e6 if fc > 2e9 else 15.36e6, 20e-3)
        a, b = _render(c, em, t0), _render(c, twin, t0)
        assert np.count_nonzero(a) > 0, em
        assert np.array_equal(a, b), em
        assert not np.array_equal(a, _render(c, em, t0, loop_index=1)), em


def test_render_cost_25msps_20ms() -> None:
    costs = {}
    for em, fc, _ in _handsets():
        c = _collector(fc, 25e6, 20e-3)
        c.render([em], 0.0, np.random.default_rng(0))  # type: ignore[list-item]
        t = time.perf_counter()
        c.render([em], 0.0, np.random.default_rng(0))  # type: ignore[list-item]
        costs[type(em).__name__] = time.perf_counter() - t
    print(
        "render cost, 25 MS/s x 20 ms with noise:",
        {k: f"{v * 1e3:.0f} ms" for k, v in costs.items()},
    )
    assert max(costs.values()) < 1.0
