"""`record` writes integer RF payloads straight from the noise table (`render_wire`): they
must be the very bytes that encoding the float rendering gives."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_hub.codec import samples_to_wire
from simulator.collectors import RfCollector
from simulator.commands import load_scenario


@pytest.mark.parametrize("name", ["demo", "simulator/scenarios/multi_intruder.yaml"])
def test_wire_payload_equals_the_encoded_float_rendering(name: str) -> None:
    sc = load_scenario(name)
    checked = with_signal = 0
    for c in sc.collectors:
        if not isinstance(c, RfCollector):
            continue
        for k in range(0, min(c.frames_per_pass(sc.duration_s), 300), 23):
            sid = c.spec.sensor_id
            header = sc.frame_header(sid, k, start_time_ns=0)
            expected = samples_to_wire(sc.render(sid, k), header)
            got = sc.frame_payload(sid, k)
            assert got.dtype == expected.dtype and np.array_equal(got, expected), (sid, k)
            checked += 1
            with_signal += int(np.count_nonzero(sc.render(sid, k, include_noise=False)) > 0)
    assert checked >= 10 and with_signal >= 3
