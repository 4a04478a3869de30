"""Memory a process can use on a device: the budget against which the calculator decides to recompute layers."""

import os

import torch

try:
    import resource
except ImportError:  # Windows
    resource = None

__all__ = ["memory_budget"]


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
    counts because freed autograd buffers stay in the process (``attnff.allocator``) and serve the
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
