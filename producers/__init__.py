"""Publishing side of streamdrift: the app SDK, the replay tool and the demo workload."""

from .sdk import EventProducer

__all__ = ["EventProducer"]
