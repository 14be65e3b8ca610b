"""The same consumer written as a Quix Streams application: River's ADWIN per feature.

    python quix_adwin.py BOOTSTRAP TOPIC EVENTS        (run with an interpreter that has quixstreams)

Prints one JSON line: {"events": n, "seconds": s}, timed from the first record to the end of app.run()
(which commits what was processed).
"""

import json
import sys
import time
import uuid

from quixstreams import Application
from river.drift import ADWIN


def main() -> None:
    bootstrap, topic_name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = Application(broker_address=bootstrap, consumer_group=f"quix-{uuid.uuid4().hex[:6]}",
                      auto_offset_reset="earliest", auto_create_topics=False, loglevel="WARNING")
    topic = app.topic(topic_name, value_deserializer="json")
    detectors: dict[str, ADWIN] = {}
    state = {"seen": 0, "start": None}

    def update(event: dict) -> None:
        if state["start"] is None:
            state["start"] = time.perf_counter()
        for name, value in event["features"].items():
            detector = detectors.get(name)
            if detector is None:
                detector = detectors[name] = ADWIN()
            detector.update(value)
        state["seen"] += 1
        if state["seen"] >= n:
            app.stop()

    app.dataframe(topic).update(update)
    app.run()
    print(json.dumps({"events": state["seen"], "seconds": time.perf_counter() - state["start"]}))


if __name__ == "__main__":
    main()
