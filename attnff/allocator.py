"""Keeping freed memory in the process: glibc's malloc thresholds for MD.

With glibc's defaults, every block above the (dynamic) mmap threshold, which caps at
32 MiB, is mapped on allocation and unmapped on release. The autograd buffers of a
force call on a few hundred atoms or more are such blocks, so each MD step page-faults
all of them again (zero-filled by the kernel), which on a small CPU costs as much as
the arithmetic. Raising M_MMAP_THRESHOLD and M_TRIM_THRESHOLD keeps released blocks in
the heap for the next step: the peak RSS stays what it was, and is not returned to the
kernel between steps.
"""

import ctypes
import sys

__all__ = ["keep_freed_memory", "KEEP_THRESHOLD"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # malloc.h
#: bytes; mallopt takes a C int, so this is its largest value (2 GiB - 1)
KEEP_THRESHOLD = 2**31 - 1


def keep_freed_memory(threshold: int = KEEP_THRESHOLD) -> bool:
    """Ask glibc to serve blocks up to ``threshold`` bytes from the heap and not to trim it.

    Process-wide and idempotent. Does nothing (returns False) off Linux or without glibc.

    Returns:
        True when both thresholds were set.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only: musl's mallopt does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, threshold) == 1 and mallopt(_M_TRIM_THRESHOLD, threshold) == 1
