"""Not-a-threat emitters on rendered IQ against SIGNALS.md §2 (oven, TETRA, DMR, downlink)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from numpy.typing import NDArray

from simulator.collectors import RfCollector
from simulator.rf_handsets import LteUplink
from simulator.rf_site import (
    DMR_FRAME_S,
    TETRA_FRAME_S,
    CellularDownlink,
    Dmr,
    MicrowaveOven,
    Tetra,
)
from simulator.trajectory import Track
from tests.simulator._sim_helpers import occupied_bandwidth_hz, runs, wide_collector

KITCHEN = Track.fixed((30.0, 20.0, 1.0))
GUARD = Track.fixed((0.0, 60.0, 1.5))
MAST = Track.fixed((800.0, 300.0, 30.0))


def _collector(fc: float, fs: float, snapshot_s: float) -> RfCollector:
    return wide_collector(
        center_freq_hz=fc, sample_rate_hz=fs, snapshot_s=snapshot_s, full_scale_dbm=40.0
    )


def _render(c: RfCollector, em: object, t0: float, loop_index: int = 0) -> NDArray[np.complex64]:
    return c.render([em], t0, np.random.default_rng(0), loop_index, include_noise=False)  # type: ignore[list-item]


def test_microwave_oven_on_10ms_per_20ms_sweeping_tens_of_mhz() -> None:
    oven = MicrowaveOven("oven", KITCHEN, seed=1, start_s=0.003)
    c = _collector(2455e6, 40e6, 62e-3)
    fs = c.sample_rate_hz
    x = _render(c, oven, 0.0)
    on = runs(np.abs(x) > 0)
    full = [(a, z) for a, z in on if a > 0 and z < len(x)]
    assert len(full) == 3
    np.testing.assert_allclose([(z - a) / fs for a, z in full], 10e-3, atol=2e-6)
    np.testing.assert_allclose(np.diff([a / fs for a, _ in full]), 20e-3, atol=1e-6)
    assert np.mean(np.abs(x) > 0) == pytest.approx(0.5, abs=0.03)
    # the line's frequency over one on-period, from 0.25 ms blocks
    a, z = full[0]
    block = round(0.25e-3 * fs)
    peaks = []
    for k in range(a, z - block, block):
        spec = np.abs(np.fft.fftshift(np.fft.fft(x[k : k + block])))
        peaks.append(np.fft.fftshift(np.fft.fftfreq(block, 1 / fs))[np.argmax(spec)])
    assert max(peaks) - min(peaks) > 20e6  # tens of MHz
    assert abs(max(peaks)) < 20e6  # ~2.44–2.47 GHz
    # a narrow receiver hears only the part of the sweep in its band
    narrow = _collector(2470e6, 5e6, 20e-3)
    y = _render(narrow, oven, 0.0)
    assert 0.0 < np.mean(np.abs(y) > 0) < 0.3


def test_tetra_mobile_keys_one_slot_per_56_67ms_frame() -> None:
    radio = Tetra("staff-1", GUARD, seed=2)
    c = _collector(radio.carrier_hz, 200e3, 0.3)
    fs = c.sample_rate_hz
    x = _render(c, radio, 0.0)
    env = np.abs(x)
    bursts = [r for r in runs(env > 0.05 * env.max()) if r[1] < len(x)]
    assert len(bursts) == 6
    np.testing.assert_allclose(np.diff([a / fs for a, _ in bursts]), TETRA_FRAME_S, atol=0.1e-3)
    assert pytest.approx(56.67e-3, abs=0.01e-3) == TETRA_FRAME_S
    np.testing.assert_allclose([(z - a) / fs for a, z in bursts], 13.7e-3, atol=0.3e-3)
    a, z = bursts[0]
    bw, centre = occupied_bandwidth_hz(x[a:z], fs)
    assert 18e3 < bw <= 25e3
    assert abs(centre) < 1e3


def test_tetra_base_station_is_continuous() -> None:
    base = Tetra("bs", MAST, seed=2, mode="base", carrier_hz=392.5125e6)
    c = _collector(base.carrier_hz, 200e3, 0.1)
    x = _render(c, base, 0.01)
    assert np.mean(np.abs(x) > 0) > 0.99


def test_dmr_27_5ms_bursts_every_60ms_constant_envelope() -> None:
    radio = Dmr("staff-2", GUARD, seed=3, timeslot=1)
    c = _collector(radio.carrier_hz, 100e3, 0.25)
    fs = c.sample_rate_hz
    x = _render(c, radio, 0.0)
    bursts = [r for r in runs(np.abs(x) > 0) if r[1] < len(x)]
    assert len(bursts) == 4
    np.testing.assert_allclose([(z - a) / fs for a, z in bursts], 27.5e-3, atol=2 / fs)
    np.testing.assert_allclose(np.diff([a / fs for a, _ in bursts]), DMR_FRAME_S, atol=2 / fs)
    assert bursts[0][0] / fs == pytest.approx(30e-3 + 1.25e-3, abs=2 / fs)  # slot 2 of 2
    a, z = bursts[0]
    env = np.abs(x[a:z])
    assert np.std(env) < 1e-3 * np.mean(env)
    bw, _ = occupied_bandwidth_hz(x[a:z], fs)
    assert 5e3 < bw <= 12.5e3


@pytest.mark.parametrize(
    ("technology", "carrier_hz", "fs", "bw_range"),
    [("lte", 806e6, 15.36e6, (8.7e6, 9.2e6)), ("gsm", 947.4e6, 1.0833e6, (200e3, 320e3))],
)
def test_cellular_downlink_is_continuous_in_its_band(
    technology: str, carrier_hz: float, fs: float, bw_range: tuple[float, float]
) -> None:
    dl = CellularDownlink("mast", MAST, seed=4, technology=technology, carrier_hz=carrier_hz)  # type: ignore[arg-type]
    c = _collector(carrier_hz, fs, 20e-3)
    x = _render(c, dl, 0.0035)
    power = np.convolve(np.abs(x) ** 2, np.ones(64) / 64, mode="valid")
    assert np.mean(power > 0.5 * power.mean()) > 0.99  # no gaps: continuous carrier
    bw, centre = occupied_bandwidth_hz(x, fs)
    assert bw_range[0] < bw < bw_range[1]
    assert abs(centre) < 0.05 * bw


def test_downlink_arrives_tens_of_db_above_a_handset_uplink() -> None:
    c = _collector(806e6, 15.36e6, 1e-3)
    dl = next(iter(CellularDownlink("mast", MAST, seed=4).bursts(0.0, 1e-3, 0)))
    ue = next(iter(LteUplink("ue", GUARD, seed=4, behaviour="data").bursts(0.0, 1e-3, 0)))
    assert c.received_dbm(dl) - c.received_dbm(ue) > 20.0


def _site() -> list[tuple[object, float, float]]:
    return [
        (MicrowaveOven("oven", KITCHEN, seed=7), 2455e6, 40e6),
        (Tetra("t", GUARD, seed=7), 382.5125e6, 200e3),
        (Dmr("d", GUARD, seed=7), 453.5e6, 100e3),
        (CellularDownlink("dl", MAST, seed=7), 806e6, 15.36e6),
        (CellularDownlink("gsm", MAST, seed=7, technology="gsm", carrier_hz=947.4e6), 947.4e6, 1e6),
    ]


def test_same_seed_gives_identical_samples_and_loops_differ() -> None:
    for (em, fc, fs), (twin, _, _) in zip(_site(), _site(), strict=True):
        c = _collector(fc, fs, 20e-3)
        a, b = _render(c, em, 0.0), _render(c, twin, 0.0)
        assert np.count_nonzero(a) > 0, em
        assert np.array_equal(a, b), em
        assert not np.array_equal(a, _render(c, em, 0.0, loop_index=1)), em


def test_render_cost_25msps_20ms() -> None:
    costs = {}
    for em, fc, _ in _site():
        c = _collector(fc, 25e6, 20e-3)
        c.render([em], 0.0, np.random.default_rng(0))  # type: ignore[list-item]
        t = time.perf_counter()
        c.render([em], 0.0, np.random.default_rng(0))  # type: ignore[list-item]
        costs[f"{type(em).__name__}/{getattr(em, 'technology', '')}"] = time.perf_counter() - t
    print(
        "render cost, 25 MS/s x 20 ms with noise:",
        {k: f"{v * 1e3:.0f} ms" for k, v in costs.items()},
    )
    assert max(costs.values()) < 1.0
