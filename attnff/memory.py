"""Memory policy: what a process may use on a device, when a force call recomputes layers, and keeping freed memory.

Keeping freed memory (glibc's malloc thresholds, for MD).

With glibc's defaults, every block above the (dynamic) mmap threshold, which caps at
32 MiB, is mapped on allocation and unmapped on release. The autograd buffers of a
force call on a few hundred atoms or more are such blocks, so each MD step page-faults
all of them again (zero-filled by the kernel), which on a small CPU costs as much as
the arithmetic. Raising M_MMAP_THRESHOLD and M_TRIM_THRESHOLD keeps released blocks in
the heap for the next step: the peak RSS stays what it was, and is not returned to the
kernel between steps.
"""

import ctypes
import os
import sys

import torch

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]  # the module or None, checked before use

__all__ = ["AUTO_RECOMPUTE_FLOOR", "AUTO_RECOMPUTE_SHARE", "KEEP_THRESHOLD", "keep_freed_memory", "memory_budget",
           "recompute_needed"]

#: recompute_layers="auto" recomputes when a plain call would keep more than this share of the memory budget
AUTO_RECOMPUTE_SHARE = 0.5
#: below this many bytes of kept intermediates "auto" never recomputes (and does not ask the system)
AUTO_RECOMPUTE_FLOOR = 1 << 30


def _meminfo_available() -> int | None:
    """Linux's estimate of memory available to new allocations (MemAvailable), in bytes."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _statm(field: int) -> int:
    """Field of /proc/self/statm in bytes (0: mapped, 1: resident), 0 when unknown."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[field]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _own_resident() -> int:
    """Resident bytes of this process."""
    return _statm(1)


def _own_mapped() -> int:
    """Bytes of address space this process has mapped."""
    return _statm(0)


def memory_budget(device: torch.device) -> int | None:
    """Bytes this process could hold on ``device``: what is free plus what it already holds, or None if unknown.

    CPU (Linux): MemAvailable plus this process's resident memory, and at most the address-space
    limit (``ulimit -v``) less the process's mapped but not resident memory. The resident part
    counts because freed autograd buffers stay in the process (``keep_freed_memory``) and serve the
    next call; without it the budget would shrink after every large call.
    CUDA: free device memory plus everything torch's caching allocator has reserved.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device))
    if device.type != "cpu":
        return None
    available = _meminfo_available()
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    resident = _own_resident()
    budget = available + resident
    limit = resource.getrlimit(resource.RLIMIT_AS)[0] if resource is not None else -1
    if limit not in (-1, getattr(resource, "RLIM_INFINITY", -1)):
        budget = min(budget, max(0, limit - _own_mapped() + resident))
    return budget


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
        _ = libc.gnu_get_libc_version  # glibc only: musl's mallopt does nothing
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, threshold) == 1 and mallopt(_M_TRIM_THRESHOLD, threshold) == 1


def recompute_needed(model, num_pairs: int, dtype: torch.dtype, device: torch.device) -> bool:
    """The calculator's "auto" rule: would a plain force call of ``model`` on ``num_pairs`` pairs keep more
    than ``AUTO_RECOMPUTE_SHARE`` of ``memory_budget(device)``?

    ``model`` is an ``attnff.models.AttnModel``; its ``autograd_values_per_pair`` estimate (None: unknown,
    never recompute) times the pairs and the dtype's size is the memory a plain call keeps.
    """
    values_per_pair = model.autograd_values_per_pair()
    if values_per_pair is None or not model.supports_recompute:
        return False
    kept = num_pairs * values_per_pair * dtype.itemsize
    if kept < AUTO_RECOMPUTE_FLOOR:
        return False
    budget = memory_budget(device)
    return budget is not None and kept > AUTO_RECOMPUTE_SHARE * budget
