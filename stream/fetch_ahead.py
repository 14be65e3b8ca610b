"""Fetch ahead as Java's consumer does: after every poll that returned records, fetch the drained partitions.

kafka-python 3.0.x (seen with 3.0.12) sends the next fetches only when a poll drained everything
buffered. A poll of ``max_poll_records`` that leaves some partitions' records in the buffer sends
nothing, so the partitions it emptied are fetched only at the poll after next, and that poll waits for
the round trip. Java's KafkaConsumer.poll sends fetches for every fetchable partition before it returns
records ("to enable pipelining while the user is handling the fetched records"); kafka-python's own
``send_fetches`` already skips partitions with buffered records or a fetch in flight, so calling it after
each poll fetches exactly the drained ones while the batch is routed.

For the service's consumer only, which reads forward: a reader that seeks (the state topic's, read
backwards from its end) would first wait for a fetch sent ahead at its old position, up to the broker's
``fetch_max_wait_ms`` when nothing is there, at every seek.

If kafka-python's fetcher is not the one this was written against, the consumer is left as it is
(correct, only slower) and a warning says so once.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
_warned = False


def install(consumer) -> bool:
    """Has the consumer's polls send the drained partitions' fetches before returning; True if they do."""
    global _warned
    fetcher = getattr(consumer, "_fetcher", None)
    if getattr(fetcher, "fetches_ahead", False):
        return True
    if not (callable(getattr(fetcher, "fetch_records", None)) and callable(getattr(fetcher, "send_fetches", None))):
        if not _warned:
            _warned = True
            import kafka

            log.warning("kafka-python %s: its fetcher is not the one stream/fetch_ahead.py knows; partitions are "
                        "fetched once a poll drains every buffered one (slower, same records)", kafka.__version__)
        return False
    fetch_records = fetcher.fetch_records

    def fetch_records_then_fetch_ahead(*args, **kwargs):
        records, idle = fetch_records(*args, **kwargs)
        if records:
            fetcher.send_fetches()
        return records, idle

    fetcher.fetch_records = fetch_records_then_fetch_ahead
    fetcher.fetches_ahead = True
    return True
