"""Drive wrk (Debian package `wrk`) with pre-signed requests; parse its report."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("replay.lua")
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    name: str
    requests: int
    non_2xx: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def accepted_per_s(self) -> float:
        return (self.requests - self.non_2xx) / self.seconds

    def line(self) -> str:
        return (
            f"{self.name:<24} {self.accepted_per_s:>9.0f} accepted/s  "
            f"p50 {self.p50_ms:>7.2f} ms  p99 {self.p99_ms:>7.2f} ms  "
            f"({self.requests} requests, {self.non_2xx} non-2xx)"
        )


def write_requests(requests: Sequence[tuple[bytes, dict[str, str]]]) -> Path:
    handle = tempfile.NamedTemporaryFile("wb", suffix=".wrk", delete=False)
    with handle:
        for body, headers in requests:
            handle.write(f"{headers['Stripe-Signature']}\n{len(body)}\n".encode() + body)
    return Path(handle.name)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run(
    name: str,
    url: str,
    data: Path,
    path: str,
    *,
    seconds: int = 8,
    connections: int = 16,
    threads: int = 2,
    start: int = 0,
) -> WrkResult:
    """Replay the pre-signed requests in `data` (see replay.lua), from the `start`-th on."""
    args = [str(data), path, str(threads), str(start // threads)]
    return _wrk(name, url, SCRIPT, args, seconds, connections, threads)


def run_post(
    name: str,
    url: str,
    path: str,
    body: str,
    token: str,
    *,
    seconds: int = 8,
    connections: int = 16,
    threads: int = 2,
) -> WrkResult:
    """The same authenticated POST again and again (see post.lua)."""
    return _wrk(
        name, url, SCRIPT.with_name("post.lua"), [path, body, token], seconds, connections, threads
    )


def _wrk(
    name: str, url: str, script: Path, args: list[str], seconds: int, connections: int, threads: int
) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
            "--",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore
    span = re.search(r"requests in ([\d.]+)(ms|s|m)", out)
    assert span is not None
    duration = float(span.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[span.group(2)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    assert p50 and p99, out
    return WrkResult(
        name,
        total,
        int(non_2xx.group(1)) if non_2xx else 0,
        duration,
        _ms(p50.group(1)),
        _ms(p99.group(1)),
    )
