"""bench/host_probe.py: which runs of samples are the machine's slow spells, and a real probe on
every CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.host_probe import HostProbe, ProbeError, slow_spells

TOOK = 40e-6  # a normal sample's duration


def _samples(slow: set[int], count: int = 100, start: float = 10.0) -> list[tuple[float, float]]:
    """One sample per millisecond from `start`; those numbered in `slow` took 10x as long."""
    return [(start + i / 1000, TOOK * (10 if i in slow else 1)) for i in range(count)]


def test_a_run_of_slow_samples_is_a_spell_from_its_first_start_to_its_last_end() -> None:
    found = slow_spells([_samples({20, 21, 22, 23})])
    assert found.spells == (pytest.approx((10.020, 10.023 + 10 * TOOK)),)
    assert found.slow_share == pytest.approx((0.003 + 10 * TOOK) / (0.099 + TOOK))


def test_slow_samples_fewer_than_three_in_a_row_are_the_scheduler_not_the_machine() -> None:
    found = slow_spells([_samples({5, 6, 30, 50, 52})])
    assert found.spells == () and found.slow_share == 0


def test_a_run_that_lasts_to_the_last_sample_is_a_spell() -> None:
    assert len(slow_spells([_samples({97, 98, 99})]).spells) == 1


def test_the_cpus_spells_are_merged_into_one_sorted_disjoint_list() -> None:
    cpu0 = _samples({10, 11, 12, 13, 60, 61, 62})
    cpu1 = _samples({12, 13, 14, 15, 16, 80, 81, 82}, start=10.0002)
    found = slow_spells([cpu0, cpu1])
    assert [round(start, 4) for start, _ in found.spells] == [10.010, 10.060, 10.0802]
    assert found.spells[0][1] == pytest.approx(10.0162 + 10 * TOOK)  # cpu1's end


def test_overlaps_tells_an_interval_that_meets_a_spell_from_one_that_does_not() -> None:
    found = slow_spells([_samples({20, 21, 22}), _samples({70, 71, 72})])
    spell_start, spell_end = found.spells[0]
    assert found.overlaps(spell_start - 0.005, spell_start)  # ends where the spell begins
    assert found.overlaps(spell_start + 0.0001, spell_start + 0.0002)  # inside
    assert found.overlaps(spell_end, spell_end + 0.010)  # begins where it ends
    assert found.overlaps(spell_start - 0.001, spell_end + 0.001)  # around it
    assert not found.overlaps(spell_end + 0.001, spell_end + 0.002)
    assert not found.overlaps(spell_start - 0.002, spell_start - 0.001)
    assert not found.overlaps(0.0, 1.0) and not found.overlaps(11.0, 12.0)


def test_a_real_probe_samples_every_cpu_and_reports_after_its_block(tmp_path: Path) -> None:
    probe = HostProbe(tmp_path)
    with probe:
        time.sleep(0.3)
        with pytest.raises(RuntimeError, match="after the with block"):
            probe.spells()
    found = probe.spells()
    assert 0.2 < found.observed_s < 10
    assert 0 <= found.slow_share < 1
    files = sorted(tmp_path.glob("host-probe-cpu*.txt"))
    assert len(files) == len(os.sched_getaffinity(0))
    for path in files:
        assert len(path.read_text(encoding="utf-8").splitlines()) > 50  # ~1 per ms


def test_watch_prints_what_it_saw_and_a_bad_setting_gets_one_line() -> None:
    root = Path(__file__).resolve().parents[2]
    watch = subprocess.run([sys.executable, "-m", "bench.host_probe", "--watch", "0.3"],
                           check=False, cwd=root, capture_output=True, text=True, timeout=60)
    assert watch.returncode == 0, watch.stderr
    assert f"on {len(os.sched_getaffinity(0))} CPUs" in watch.stdout
    assert "slow spells in" in watch.stdout
    bad = subprocess.run([sys.executable, "-m", "bench.host_probe", "--watch", "0"],
                         check=False, cwd=root, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--watch SECONDS" in bad.stderr.splitlines()[-1]


def test_a_probe_that_cannot_start_is_a_probe_error(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")  # every probe exits at once
    with pytest.raises(ProbeError, match="did not start"), HostProbe(tmp_path):
        pass
