"""Peak resident memory of this process over a block of code (Linux), for fault tests.

`/proc/self/clear_refs` with "5" resets the kernel's high-water mark (VmHWM) to the current RSS,
so `VmHWM - RSS before` after the block is the block's peak growth, whatever earlier tests did.
Everything the block does in this process counts: the event loop, the parser threads, and the
loopback servers the test runs. Where the reset is not allowed, a thread samples RSS every 2 ms
instead (it can miss a spike shorter than that).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def rss_bytes() -> int:
    return _status_kib("VmRSS") * 1024


@dataclass
class PeakGrowth:
    before: int = 0
    peak: int = 0
    method: str = ""

    @property
    def growth(self) -> int:
        return max(0, self.peak - self.before)


@contextmanager
def peak_rss_growth() -> Iterator[PeakGrowth]:
    """`with peak_rss_growth() as m: ...` then `m.growth` is the peak RSS growth in bytes."""
    result = PeakGrowth()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        result.method = "sampled"
    else:
        result.method = "VmHWM"
    result.before = rss_bytes()
    stop = threading.Event()
    sampler: threading.Thread | None = None
    samples = [result.before]
    if result.method == "sampled":

        def sample() -> None:
            while not stop.is_set():
                samples.append(rss_bytes())
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    try:
        yield result
    finally:
        if sampler is not None:
            stop.set()
            sampler.join()
            result.peak = max(samples)
        else:
            result.peak = _status_kib("VmHWM") * 1024


def peak_rss_of_children() -> list[int]:
    """Lifetime peak RSS (VmHWM) of each live child process of this one (parser workers)."""
    import psutil

    peaks = []
    for child in psutil.Process().children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) * 1024)
    return peaks
