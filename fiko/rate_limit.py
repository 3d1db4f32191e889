"""Per-socket token bucket: ``rate`` frames per second, bursts up to ``burst``."""
import time


class TokenBucket:
    def __init__(self, rate: float = 20.0, burst: int = 40):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
