"""Receivers skip emitters whose frequency plan misses their band (`frequency_spans`):
every burst any emitter sends must lie inside one of its spans, or it would go unheard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.commands import load_scenario
from simulator.link_budget import frequency_spans

ROOT = Path(__file__).parents[2] / "simulator"
SCENARIOS = ["demo", *sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml")),
             str(ROOT / "gallery" / "gallery.yaml")]  # fmt: skip


@pytest.mark.parametrize("name", SCENARIOS, ids=lambda s: Path(s).stem)
def test_every_burst_lies_in_its_emitters_spans(name: str) -> None:
    sc = load_scenario(name)
    checked = 0
    for em in sc.rf_emitters:
        spans = frequency_spans(em)
        assert spans, f"{em.emitter_id} has no frequency plan"
        for t0 in np.linspace(0.0, sc.duration_s - 0.3, 12):
            for b in em.bursts(float(t0), float(t0) + 0.3, 0):
                lo, hi = b.freq_hz - 0.5 * b.bandwidth_hz, b.freq_hz + 0.5 * b.bandwidth_hz
                assert any(a <= lo and hi <= z for a, z in spans), (
                    f"{em.emitter_id} ({em.signature}) burst {lo / 1e6:.4f}-{hi / 1e6:.4f} MHz "
                    f"at {b.start_s:.4f} s outside {[(a / 1e6, z / 1e6) for a, z in spans]}"
                )
                checked += 1
    assert checked > 0
