"""attnff.allocator: glibc thresholds for keeping freed memory between MD steps."""

import ctypes
import sys

import pytest

from attnff.allocator import keep_freed_memory


def _glibc() -> bool:
    try:
        ctypes.CDLL(None).gnu_get_libc_version
    except (OSError, AttributeError):
        return False
    return sys.platform.startswith("linux")


def test_keep_freed_memory_sets_thresholds_on_glibc_and_is_idempotent():
    assert keep_freed_memory() is _glibc()
    assert keep_freed_memory() is _glibc()


@pytest.mark.skipif(not _glibc(), reason="needs glibc")
def test_calculator_can_leave_the_allocator_alone(monkeypatch):
    from attnff import calculator

    calls = []
    monkeypatch.setattr(calculator, "keep_freed_memory", lambda: calls.append(1))
    from tests.conftest import small_potential

    calculator.AttnCalculator(small_potential("jat"), device="cpu", keep_memory=False)
    assert calls == []
    calculator.AttnCalculator(small_potential("jat"), device="cpu")
    assert calls == [1]
