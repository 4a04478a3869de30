"""attnff.memory: keeping freed memory between MD steps, and the memory budget."""

import platform
import subprocess
import sys

import pytest

from attnff.memory import memory_budget

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Allocates, touches and frees 256 MiB, then prints the resident MiB that stayed in the process.
_RETAINED = """
import sys
import numpy as np
from attnff.memory import keep_freed_memory
def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
before = resident_mib()
block = np.ones(2**25)
del block
print(kept, resident_mib() - before)
"""


def _retained(mode: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", _RETAINED, mode], capture_output=True, text=True, check=True)
    kept, mib = out.stdout.split()
    return kept, float(mib)


@pytest.mark.skipif(not GLIBC, reason="needs Linux with glibc")
def test_keep_freed_memory_keeps_a_freed_block_resident():
    kept, retained = _retained("keep")
    assert kept == "True"
    assert retained > 200  # the 256 MiB block went back to the heap, not to the kernel
    _, released = _retained("default")
    assert released < 50  # glibc's default unmaps it


@pytest.mark.skipif(GLIBC, reason="checks the fallback off glibc")
def test_keep_freed_memory_does_nothing_off_glibc():
    from attnff.memory import keep_freed_memory

    assert keep_freed_memory() is False


def test_memory_budget_is_positive_on_the_cpu():
    import torch

    budget = memory_budget(torch.device("cpu"))
    assert budget is None or budget > 2**20


def test_calculator_can_leave_the_allocator_alone(monkeypatch):
    from attnff import calculator
    from tests.conftest import small_potential

    calls = []
    monkeypatch.setattr(calculator, "keep_freed_memory", lambda: calls.append(1))
    calculator.AttnCalculator(small_potential("jat"), device="cpu", keep_memory=False)
    assert calls == []
    calculator.AttnCalculator(small_potential("jat"), device="cpu")
    assert calls == [1]
