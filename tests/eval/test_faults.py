"""The fault battery (`python -m eval.faults`) holds: every bad input, hostile command line
and killed ingest ends in one-line messages, exact counts and a healthy store."""

from __future__ import annotations

import json

import pytest

from eval import faults


def test_every_bad_input_has_a_sound_part_or_is_refused():
    cases = faults.bad_inputs()
    assert len({c.name for c in cases}) == len(cases) >= 20
    assert any(c.refuses_run for c in cases) and any(c.sound == 0 for c in cases)


@pytest.mark.slow
def test_the_battery_passes(tmp_path):
    code = faults.main(["--out", str(tmp_path), "--kills", "2"])
    report = json.loads((tmp_path / "faults.json").read_text())
    failed = [o for outs in report.values() for o in outs if not o["ok"]]
    assert not failed, failed
    assert code == 0
    assert len(report["killed ingests"]) == 2
