"""Waiting out an outage: which services answer, with backoff between probes and one log line
per change of state (never one per retry)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from domain.ports import HealthProbe

log = logging.getLogger("billing.availability")


class Availability:
    def __init__(
        self,
        probes: Mapping[str, HealthProbe],
        stop: threading.Event,
        max_wait_s: float = 30.0,
        first_wait_s: float = 0.2,
    ) -> None:
        self.probes = dict(probes)
        self.stop = stop
        self.max_wait_s = max_wait_s
        self.first_wait_s = first_wait_s
        self._down_since: dict[str, float] = {}
        self._lock = threading.Lock()

    def saw(self, service: str, up: bool) -> None:
        """Record what a probe or a failed call found; log only when the state flips."""
        with self._lock:
            was_down = service in self._down_since
            if up and was_down:
                seconds = time.monotonic() - self._down_since.pop(service)
                log.warning(
                    "%s reachable again after %.1f s",
                    service,
                    seconds,
                    extra={"service": service, "outage_s": round(seconds, 1)},
                )
            elif not up and not was_down:
                self._down_since[service] = time.monotonic()
                log.warning("%s unreachable; waiting for it", service, extra={"service": service})

    def check(self) -> bool:
        up = True
        for name, probe in self.probes.items():
            ok = probe.ping()
            self.saw(name, ok)
            up = up and ok
        return up

    def wait(self) -> bool:
        """Block until every service answers (True) or a stop is requested (False)."""
        delay = self.first_wait_s
        while not self.stop.is_set():
            if self.check():
                return True
            self.stop.wait(delay)
            delay = min(delay * 2, self.max_wait_s)
        return False

    @property
    def down(self) -> list[str]:
        with self._lock:
            return sorted(self._down_since)
