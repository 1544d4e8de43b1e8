"""SIGINT and SIGTERM become a flag, so the loop can save before it exits."""
import signal


class StopSignals:
    def __init__(self):
        self.received = None

    def __enter__(self):
        self.old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.received is not None:  # a second Ctrl-C means "now"
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)
