"""Publishing side of streamdrift: the app SDK, the replay tool and the demo workload."""

from .replay import Pacing, Replay, ReplayError, check_log
from .sdk import EventProducer

__all__ = ["EventProducer", "Pacing", "Replay", "ReplayError", "check_log"]
