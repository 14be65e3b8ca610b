"""Faster parsing of fetched v2 record batches for kafka-python's consumer, with unchanged records.

kafka-python parses every fetched record in Python through several layers (a DefaultRecord object, seven
varint calls, a generator step and a 13-field namedtuple call per record): about 11 µs a record, most of
`poll`. `FastPartitionRecords` keeps kafka-python's batch-level logic (crc check, leader epoch, aborted
transactions, control batches, fetch positions) and replaces only the per-record work with one loop over
each batch's bytes. Anything it does not expect (deserializers, magic 0/1, a record that does not parse
cleanly) goes through kafka-python's own code, so errors and partial results stay exactly kafka-python's.
"""

from __future__ import annotations

import inspect
import logging

import kafka.errors as Errors
from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.protocol.consumer import IsolationLevel
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.util import decode_varint

log = logging.getLogger(__name__)

_new_tuple = tuple.__new__
_LOG_APPEND_TIME = DefaultRecordBatch.LOG_APPEND_TIME
# The values of all one- and two-byte varints, by their 7-bit groups, little end first: indexing a tuple
# costs less than zigzag-decoding in Python, and nearly every varint of a record is that short.
_ZIGZAG = tuple((u >> 1) ^ -(u & 1) for u in range(1 << 14))
_UNPACK_PARAMETERS = ["self", "tp", "records", "key_deserializer", "value_deserializer"]


class _Unusual(Exception):
    """A batch the fast loop does not vouch for: kafka-python parses it (and raises what it raises)."""


def batch_records(data: bytes, pos: int, count: int, topic: str, partition: int, leader_epoch: int,
                  base_offset: int, first_timestamp: int, timestamp_type: int, max_timestamp: int):
    """The ConsumerRecords of one (decompressed) v2 batch whose records start at data[pos], and their sizes
    (what kafka-python adds to bytes_read); raises _Unusual wherever kafka-python might disagree.

    The same fields, in the same order, as DefaultRecordBatch._read_msg: varints of one or two bytes
    (nearly all of them) are decoded inline, longer ones by kafka-python's decode_varint.
    """
    records, sizes = [], []
    append, append_size = records.append, sizes.append
    log_append = timestamp_type == _LOG_APPEND_TIME
    zigzag = _ZIGZAG
    try:
        for _ in range(count):
            # Length
            b = data[pos]
            if b < 128:
                length = zigzag[b]
                pos += 1
            elif data[pos + 1] < 128:
                length = zigzag[(b & 127) | (data[pos + 1] << 7)]
                pos += 2
            else:
                length, pos = decode_varint(data, pos)
            start = pos
            # Attributes: unused (kafka-python skips them too)
            if data[pos] < 128:
                pos += 1
            else:
                _, pos = decode_varint(data, pos)
            # Timestamp delta
            b = data[pos]
            if b < 128:
                delta = zigzag[b]
                pos += 1
            elif data[pos + 1] < 128:
                delta = zigzag[(b & 127) | (data[pos + 1] << 7)]
                pos += 2
            else:
                delta, pos = decode_varint(data, pos)
            # Offset delta
            b = data[pos]
            if b < 128:
                offset_delta = zigzag[b]
                pos += 1
            elif data[pos + 1] < 128:
                offset_delta = zigzag[(b & 127) | (data[pos + 1] << 7)]
                pos += 2
            else:
                offset_delta, pos = decode_varint(data, pos)
            # Key
            b = data[pos]
            if b < 128:
                key_size = zigzag[b]
                pos += 1
            elif data[pos + 1] < 128:
                key_size = zigzag[(b & 127) | (data[pos + 1] << 7)]
                pos += 2
            else:
                key_size, pos = decode_varint(data, pos)
            if key_size >= 0:
                key = data[pos:pos + key_size]
                pos += key_size
            else:
                key, key_size = None, -1
            # Value
            b = data[pos]
            if b < 128:
                value_size = zigzag[b]
                pos += 1
            elif data[pos + 1] < 128:
                value_size = zigzag[(b & 127) | (data[pos + 1] << 7)]
                pos += 2
            else:
                value_size, pos = decode_varint(data, pos)
            if value_size >= 0:
                value = data[pos:pos + value_size]
                pos += value_size
            else:
                value, value_size = None, -1
            # Headers
            if data[pos] == 0:
                pos += 1
                headers, header_size = [], -1
            else:
                pos, headers, header_size = _headers(data, pos)
            if pos - start != length:
                raise _Unusual
            append_size(length)
            append(_new_tuple(ConsumerRecord, (
                topic, partition, leader_epoch, base_offset + offset_delta,
                max_timestamp if log_append else first_timestamp + delta, timestamp_type,
                key, value, headers, None, key_size, value_size, header_size)))
    except (IndexError, ValueError):
        raise _Unusual from None
    # kafka-python raises on bytes left after the last record (after returning the records).
    if pos != len(data):
        raise _Unusual
    return records, sizes


def _headers(data: bytes, pos: int):
    """(position after, headers list, kafka-python's serialized_header_size) of a record's headers."""
    count, pos = decode_varint(data, pos)
    if count < 0:
        raise _Unusual
    headers, size = [], 0
    for _ in range(count):
        key_size, pos = decode_varint(data, pos)
        if key_size < 0:
            raise _Unusual
        # Strict UTF-8 round-trips, so the key's byte count is what kafka-python's re-encoding measures.
        key = data[pos:pos + key_size].decode("utf-8")
        pos += key_size
        value_size, pos = decode_varint(data, pos)
        if value_size >= 0:
            value = data[pos:pos + value_size]
            pos += value_size
            size += value_size
        else:
            value = None
        size += key_size
        headers.append((key, value))
    return pos, headers, size


class FastPartitionRecords(Fetcher.PartitionRecords):
    """kafka-python's PartitionRecords, parsing each v2 batch in one loop and taking records batch-wise."""

    def __init__(self, fetch_offset, tp, records, key_deserializer=None, value_deserializer=None, **kwargs):
        super().__init__(fetch_offset, tp, records, key_deserializer, value_deserializer, **kwargs)
        # Deserializers see headers and may raise per record: kafka-python's own path keeps that exact.
        self._fast = key_deserializer is None and value_deserializer is None
        if self._fast:
            # Replaces kafka-python's record iterator (a generator not started yet) by one of batches.
            self.record_iterator = self._batches(tp, records)
        self._records, self._sizes, self._next = [], [], 0  # the batch being taken, its sizes, where

    def take(self, n=None):
        """Up to n records, as kafka-python's take: the counters and next_fetch_offset move with each
        record handed out, and an error after some records is raised at the next call."""
        if not self._fast:
            return super().take(n)
        self._maybe_raise_next_inline_exception()
        taken = []
        try:
            while n is None or len(taken) < n:
                start, records = self._next, self._records
                if start == len(records):
                    if self.record_iterator is None:
                        break
                    try:
                        self._records, self._sizes = next(self.record_iterator)
                    except StopIteration:
                        break
                    self._next = 0
                    continue
                stop = len(records) if n is None else min(len(records), start + n - len(taken))
                chunk = records if start == 0 and stop == len(records) else records[start:stop]
                self._next = stop
                self.records_read += stop - start
                self.bytes_read += sum(self._sizes[start:stop])
                self.next_fetch_offset = chunk[-1][3] + 1
                if taken:
                    taken += chunk
                else:
                    taken = chunk if chunk is not records else list(chunk)
        except Exception as e:
            if not taken:
                raise e
            # Raised at the next call, as kafka-python does.
            self._next_inline_exception = e
        return taken

    def drain(self):
        super().drain()
        self._records, self._sizes, self._next = [], [], 0

    def _batches(self, tp, records):
        """(records, their sizes) lists, batch by batch (record by record where kafka-python parses),
        those before fetch_offset left out and counted, as kafka-python's dropwhile does."""
        skipping = True
        for chunk in self._unpack_batches(tp, records):
            if skipping:
                recs, sizes = chunk
                first = 0
                while first < len(recs) and recs[first][3] < self.fetch_offset:
                    first += 1
                if first:
                    log.debug("Skipping %d records of %s before offset %s", first, tp, self.fetch_offset)
                    self.records_read += first
                    self.bytes_read += sum(sizes[:first])
                    self.next_fetch_offset = recs[first - 1][3] + 1
                    chunk = recs[first:], sizes[first:]
                if first == len(recs):
                    continue
                skipping = False
            yield chunk

    def _unpack_batches(self, tp, records):
        # kafka-python's Fetcher.PartitionRecords._unpack_records (3.0.12), batch-level logic unchanged;
        # only the record loop differs, and the counters move in take(). Keep the two in step.
        try:
            batch = records.next_batch()
            last_batch = None
            while batch is not None:
                last_batch = batch

                if self.check_crcs and not batch.validate_crc():
                    raise Errors.CorruptRecordError(
                        "Record batch for partition %s at offset %s failed crc check" % (
                            self.topic_partition, batch.base_offset))

                if batch.magic == 2:
                    self.leader_epoch = batch.leader_epoch
                    if self.isolation_level == IsolationLevel.READ_COMMITTED and batch.has_producer_id():
                        self._consume_aborted_transactions_up_to(batch.last_offset)
                        producer_id = batch.producer_id
                        if self._contains_abort_marker(batch):
                            self.aborted_producer_ids.discard(producer_id)
                        elif self._is_batch_aborted(batch):
                            log.debug("Skipping aborted record batch from partition %s with producer_id %s and"
                                      " offsets %s to %s",
                                      self.topic_partition, producer_id, batch.base_offset, batch.last_offset)
                            self.next_fetch_offset = batch.next_offset
                            batch = records.next_batch()
                            continue

                    # Control batches (a transaction's commit or abort marker) are not returned.
                    if batch.is_control_batch:
                        self.next_fetch_offset = batch.next_offset
                        batch = records.next_batch()
                        continue

                    parsed = self._fast_batch(tp, batch)
                else:
                    parsed = None
                if parsed is None:
                    for record, size in self._slow_batch(tp, batch):
                        yield [record], [size]
                elif parsed[0]:
                    yield parsed

                batch = records.next_batch()
            else:
                # As kafka-python: v2 keeps a batch's last offset even when compaction removed its last
                # record, so the next fetch starts after the batch rather than re-fetching it.
                if last_batch and last_batch.magic == 2:
                    self.next_fetch_offset = last_batch.next_offset
                self.drain()
        except StopIteration:
            # A StopIteration escaping a generator would end it silently (kafka-python issue 545).
            log.exception('StopIteration raised unpacking messageset')
            raise RuntimeError('StopIteration raised unpacking messageset')

    def _fast_batch(self, tp, batch):
        """(records, their sizes) of a v2 batch, or None to let kafka-python parse it."""
        iter(batch)  # decompresses in place, as kafka-python's own iteration does
        try:
            return batch_records(bytes(batch._buffer), batch._pos, batch.records_count, tp.topic,
                                 tp.partition, self.leader_epoch, batch.base_offset, batch.first_timestamp,
                                 batch.timestamp_type, batch.max_timestamp)
        except _Unusual:
            return None

    def _slow_batch(self, tp, batch):
        """(record, size) pairs by kafka-python's record loop (legacy formats, or what the fast loop refused)."""
        for record in batch:
            if self.check_crcs and not record.validate_crc():
                raise Errors.CorruptRecordError(
                    "Record for partition %s at offset %s failed crc check" % (
                        self.topic_partition, record.offset))
            key, value, headers = record.key, record.value, record.headers
            key_size = len(key) if key is not None else -1
            value_size = len(value) if value is not None else -1
            header_size = sum(
                len(h_key.encode("utf-8")) + (len(h_val) if h_val is not None else 0) for h_key, h_val in
                headers) if headers else -1
            yield ConsumerRecord(
                tp.topic, tp.partition, self.leader_epoch, record.offset, record.timestamp,
                record.timestamp_type, key, value, headers, record.checksum,
                key_size, value_size, header_size), record.size_in_bytes


_EXPECTED_INIT = ["self", "fetch_offset", "tp", "records", "key_deserializer", "value_deserializer", "check_crcs",
                  "isolation_level", "aborted_transactions", "metric_aggregator", "on_drain"]
_warned = False


def _internals_as_expected(consumer) -> bool:
    fetcher = getattr(consumer, "_fetcher", None)
    cls = getattr(fetcher, "PartitionRecords", None)
    if cls is FastPartitionRecords:
        return True
    if cls is not Fetcher.PartitionRecords:
        return False
    try:
        init = list(inspect.signature(cls.__init__).parameters)
        unpack = list(inspect.signature(cls._unpack_records).parameters)
    except (TypeError, ValueError, AttributeError):
        return False
    parts = ("take", "drain", "_maybe_raise_next_inline_exception", "_consume_aborted_transactions_up_to",
             "_contains_abort_marker", "_is_batch_aborted")
    return (init == _EXPECTED_INIT and unpack == _UNPACK_PARAMETERS and all(hasattr(cls, p) for p in parts)
            and {"_buffer", "_pos"} <= set(DefaultRecordBatch.__slots__))


def install(consumer) -> bool:
    """Has the consumer's fetcher parse records with FastPartitionRecords; True if it does.

    The one hook into kafka-python's internals, pinned by tests/unit/test_record_batches.py: the fetcher
    builds each fetched partition's records as `self.PartitionRecords(...)`, so an instance attribute
    replaces the class for this consumer only. If kafka-python's internals are not the ones this module
    was written against, the consumer is left as it is (correct, only slower) and a warning says so once.
    """
    global _warned
    if not _internals_as_expected(consumer):
        if not _warned:
            _warned = True
            import kafka

            log.warning("kafka-python %s: its fetcher is not the one stream/record_batches.py knows; records "
                        "are parsed by kafka-python itself (slower, same results)", kafka.__version__)
        return False
    consumer._fetcher.PartitionRecords = FastPartitionRecords
    return True
