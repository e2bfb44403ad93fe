"""Process-wide C allocator setting for CPU runs: keep freed tensor memory for reuse.

glibc hands large blocks back to the kernel on free (unmapping them, or trimming the heap top), so the next
tensor of that size page-faults and is zero-filled again: about 20,000 faults and 5% of a 96x96 x4 CPU
forward (benchmarks/bench_core.py). Keeping freed blocks in the heap removes them, at the price of the
process holding on to its peak memory. The entry points (train, test, inference, benchmarks) call this for
their own process; importing the package changes nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_LARGEST_HEAP_BLOCK = 32 * 2**20  # glibc's cap for the mmap threshold on 64-bit systems


def keep_freed_memory() -> bool:
    """Serve blocks up to 32 MB from the heap and never trim it; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _LARGEST_HEAP_BLOCK)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
