"""A consumer a team would write with kafka-python: json.loads per message, optionally River's ADWIN per feature.

    python kafka_python_loop.py {json|adwin} BOOTSTRAP TOPIC EVENTS

Prints one JSON line: {"events": n, "seconds": s}, timed from the first record to the commit after the last.
"""

import json
import sys
import time
import uuid

from kafka import KafkaConsumer
from river.drift import ADWIN


def main() -> None:
    mode, bootstrap, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"kp-{mode}-{uuid.uuid4().hex[:6]}",
                             auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000)
    detectors: dict[str, ADWIN] = {}
    seen, start = 0, None
    while seen < n:
        for records in consumer.poll(timeout_ms=500).values():
            start = start or time.perf_counter()
            for record in records:
                event = json.loads(record.value)
                if mode == "adwin":
                    for name, value in event["features"].items():
                        detector = detectors.get(name)
                        if detector is None:
                            detector = detectors[name] = ADWIN()
                        detector.update(value)
            seen += len(records)
        consumer.commit()
    elapsed = time.perf_counter() - start
    consumer.close()
    print(json.dumps({"events": seen, "seconds": elapsed}))


if __name__ == "__main__":
    main()
