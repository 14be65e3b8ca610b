"""FastPartitionRecords against kafka-python's own PartitionRecords, without a broker: the same records, field
for field, and the same counters, positions and errors after every take, on batches built by kafka-python."""

from __future__ import annotations

import collections
import inspect
import logging
import struct
import types

import pytest
from kafka import KafkaConsumer
import kafka.codec as codecs
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.protocol.consumer import IsolationLevel
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder
from kafka.record.util import calc_crc32c, decode_varint, encode_varint
from kafka.structs import TopicPartition

import stream.record_batches as record_batches
from stream.record_batches import FastPartitionRecords, install

TP = TopicPartition("features", 3)
T0 = 1_767_225_600_000
Aborted = collections.namedtuple("Aborted", "producer_id first_offset")  # a FetchResponse's aborted transaction


def batch(records, base_offset, *, compression=0, producer_id=-1, transactional=False, append_time=None,
          control=None, leader_epoch=5) -> bytes:
    """A v2 batch by kafka-python's builder. records: (offset delta, timestamp, key, value, headers);
    the fields a broker sets (base offset, leader epoch, LOG_APPEND_TIME, control) are then written in."""
    builder = DefaultRecordBatchBuilder(2, compression, transactional, producer_id, 0 if producer_id >= 0 else -1,
                                        0 if producer_id >= 0 else -1, batch_size=1 << 30)
    for delta, timestamp, key, value, headers in records:
        assert builder.append(delta, timestamp, key, value, headers) is not None
    buf = builder.build()
    fields = list(DefaultRecordBatch.HEADER_STRUCT.unpack_from(buf))
    fields[0], fields[2] = base_offset, leader_epoch
    if append_time is not None:
        fields[5] |= DefaultRecordBatch.TIMESTAMP_TYPE_MASK
        fields[8] = append_time
    if control is not None:
        fields[5] |= DefaultRecordBatch.CONTROL_MASK
    return recrc(buf, fields)


def recrc(buf, fields) -> bytes:
    buf = bytearray(buf)
    DefaultRecordBatch.HEADER_STRUCT.pack_into(buf, 0, *fields)
    struct.pack_into(">I", buf, DefaultRecordBatch.CRC_OFFSET,
                     calc_crc32c(memoryview(buf)[DefaultRecordBatch.ATTRIBUTES_OFFSET:]))
    return bytes(buf)


def marker(base_offset, producer_id, commit: bool) -> bytes:
    """A transaction's control batch: key (version, type: 0 abort, 1 commit), value (version, coordinator epoch)."""
    record = (0, T0, struct.pack(">hh", 0, int(commit)), struct.pack(">hi", 0, 0), [])
    return batch([record], base_offset, producer_id=producer_id, transactional=True, control=True)


def mixed(n, start_delta=0, step=1):
    """Records of every shape: keys and values None or not, short and long (multi-byte varints), headers
    (None values, non-ASCII keys), timestamps going back and forth."""
    out = []
    for i in range(n):
        key = None if i % 5 == 0 else f"model-{i % 7}".encode()
        value = None if i % 11 == 3 else (b'{"f0": %d}' % i) * (1 + (i * 37) % 40) * (30 if i % 50 == 7 else 1)
        headers = [] if i % 3 else [("trace", b"abc"), ("ünïcode", None), ("", b"")][: 1 + (i // 3) % 3]
        out.append((start_delta + i * step, T0 + ((i * 7919) % 500) - 250, key, value, headers))
    return out


def trace(cls, data, takes=(5000,), fetch_offset=0, **kwargs):
    """Everything a fetcher sees, after each take: the records (every field), the position, the counters,
    whether the records are drained, or the error raised."""
    drained = []
    part = cls(fetch_offset, TP, MemoryRecords(data), on_drain=drained.append, **kwargs)
    steps, i = [], 0
    while part and i < 200:
        try:
            taken = part.take(takes[min(i, len(takes) - 1)])
            steps.append(("took", [tuple(r) for r in taken]))
        except Exception as exc:  # noqa: BLE001  (compared, type and message)
            steps.append(("raised", type(exc).__name__, str(exc)))
            if i > 50:
                break
        steps.append(("state", part.next_fetch_offset, part.records_read, part.bytes_read, part.leader_epoch,
                      bool(part), len(drained)))
        i += 1
    return steps


def records_of(steps):
    return [r for step in steps if step[0] == "took" for r in step[1]]


def same(data, expect_records=None, **kwargs):
    """The fast trace equals kafka-python's; returns it. expect_records: how many records must come out."""
    fast, slow = trace(FastPartitionRecords, data, **kwargs), trace(Fetcher.PartitionRecords, data, **kwargs)
    assert fast == slow
    if expect_records is not None:
        assert len(records_of(fast)) == expect_records
    return fast


def test_mixed_records_over_several_batches_field_for_field():
    data = (batch(mixed(40), 0) + batch(mixed(200, step=1), 40, leader_epoch=6)   # offset deltas > 63
            + batch(mixed(3), 240))
    steps = same(data, expect_records=243)
    records = records_of(steps)
    assert [r[3] for r in records] == list(range(243))
    assert {r[2] for r in records} == {5, 6}
    # the shapes the test claims are there really are: None keys, None values, None header values, long values
    assert any(r[6] is None for r in records) and any(r[7] is None for r in records)
    assert any(h[1] is None for r in records for h in r[8]) and max(r[11] for r in records) > 8192


def test_long_varints_and_compacted_offsets():
    # A 20 kB value and timestamp deltas of hours take three-byte varints and more; gaps in offsets are
    # what compaction leaves, and the batch's last offset (kept) is past its last record.
    records = [(0, T0, b"k", b"x" * 20_000, []), (70, T0 + 3_600_000, None, b"y", [("h", b"z" * 9000)]),
               (300, T0 - 86_400_000, b"k2", None, [])]
    data = batch(records, 1000) + batch(mixed(2), 1301)
    steps = same(data, expect_records=5, fetch_offset=1000)
    assert [r[3] for r in records_of(steps)] == [1000, 1070, 1300, 1301, 1302]


@pytest.mark.parametrize("codec, name", [(1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")])
def test_compressed_batches(codec, name):
    # The codecs are dependencies: producers compress with any of them, and the service must read them all.
    assert getattr(codecs, f"has_{name}")(), f"kafka-python finds no {name} library: install streamdrift's dependencies"
    data = batch(mixed(120), 0, compression=codec) + batch(mixed(30), 120, compression=codec)
    assert DefaultRecordBatch(data[:61]).compression_type == codec  # compressed indeed
    same(data, expect_records=150)


def test_log_append_time():
    data = batch(mixed(10), 0, append_time=T0 + 99_999)
    records = records_of(same(data, expect_records=10))
    assert {(r[4], r[5]) for r in records} == {(T0 + 99_999, 1)}


@pytest.mark.parametrize("isolation", [IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED])
def test_transactions_aborted_skipped_committed_kept(isolation):
    data = (batch(mixed(4), 0)
            + batch(mixed(5), 4, producer_id=7, transactional=True) + marker(9, 7, commit=False)
            + batch(mixed(6), 10, producer_id=8, transactional=True) + marker(16, 8, commit=True)
            + batch(mixed(2), 17))
    steps = same(data, isolation_level=isolation, aborted_transactions=[Aborted(7, 4)])
    offsets = [r[3] for r in records_of(steps)]
    aborted = list(range(4, 9))
    kept = list(range(0, 4)) + list(range(10, 16)) + [17, 18]
    assert offsets == (kept if isolation == IsolationLevel.READ_COMMITTED else sorted(kept + aborted))


def test_fetch_offset_inside_a_batch_drops_the_records_before_it():
    data = batch(mixed(50), 100) + batch(mixed(10), 150)
    steps = same(data, fetch_offset=137, takes=(3, 1, 20, 5000))
    assert [r[3] for r in records_of(steps)] == list(range(137, 160))
    # negative control: a different fetch offset gives a different trace
    assert steps != trace(Fetcher.PartitionRecords, data, fetch_offset=138, takes=(3, 1, 20, 5000))


def test_fetch_offset_past_every_record_returns_nothing_and_moves_on():
    same(batch(mixed(5), 0), expect_records=0, fetch_offset=5)


@pytest.mark.parametrize("takes", [(1,), (7, 1, 2), (63, 64), (5000,), (None,)])
def test_take_in_pieces(takes):
    data = batch(mixed(30), 0) + batch(mixed(70), 30) + batch(mixed(1), 100)
    steps = same(data, takes=takes, expect_records=101)
    assert steps[-1][1:] == (101, 101, sum(r for r in steps_sizes(data)), 5, False, 1)


def steps_sizes(data):
    """Each record's size as kafka-python counts it (its length field)."""
    records = MemoryRecords(data)
    sizes = []
    while (b := records.next_batch()) is not None:
        sizes += [r.size_in_bytes for r in b]
    return sizes


def test_legacy_message_format_goes_through_kafka_python():
    builder = MemoryRecordsBuilder(1, 0, 1 << 20)
    for i in range(20):
        builder.append(T0 + i, b"k" if i % 2 else None, b"v" * i)
    builder.close()
    same(bytes(builder.buffer()), expect_records=20)


def test_deserializers_go_through_kafka_python():
    decode = types.SimpleNamespace(deserialize=lambda topic, headers, data: None if data is None else data[::-1])
    steps = same(batch(mixed(20), 0), expect_records=20, key_deserializer=decode, value_deserializer=decode)
    assert any(r[7] is not None and r[7].startswith(b"}") for r in records_of(steps))


def corrupt(data: bytes, record: int, edit) -> bytes:
    """The batch with record number `record`'s bytes edited by edit(bytearray, position), CRC made right."""
    batch_ = DefaultRecordBatch(data)
    buf, pos = bytearray(data), DefaultRecordBatch.HEADER_STRUCT.size
    for _ in range(record):
        length, after = decode(buf, pos)
        pos = after + length
    edit(buf, pos)
    return recrc(buf, list(batch_._header_data))


def decode(buf, pos):
    return decode_varint(buf, pos)


def set_count(data: bytes, count: int) -> bytes:
    fields = list(DefaultRecordBatch.HEADER_STRUCT.unpack_from(data))
    fields[12] = count
    return recrc(data, fields)


def shorter_by_one(buf, pos):
    # The record's length field (two bytes for these records) one less than its bytes.
    length, after = decode(buf, pos)
    assert after - pos == 2
    buf[pos:after] = bytearray(_varint(length - 1))


def _varint(value):
    out = bytearray()
    encode_varint(value, out.append)
    return out


def bad_header_count(buf, pos):
    buf[pos + _last_field_offset(buf, pos)] = 0x01  # headers count -1


def _last_field_offset(buf, pos):
    length, after = decode(buf, pos)
    return after - pos + length - 1  # a record without headers ends with its zero headers count


CORRUPTIONS = {
    "record length off by one": lambda d: corrupt(d, 4, shorter_by_one),
    "negative header count": lambda d: corrupt(d, 4, bad_header_count),
    "more records announced than written": lambda d: set_count(d, 12),
    "fewer records announced than written": lambda d: set_count(d, 9),
    "bad crc": lambda d: d,  # the CRC field itself is changed after rebasing (which computes it)
}


@pytest.mark.parametrize("check_crcs", [True, False])
@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corrupt_batches_raise_as_kafka_python_does(name, check_crcs):
    good = batch([(i, T0, b"key", b"v" * 100, []) for i in range(10)], 0)
    bad = rebase(CORRUPTIONS[name](good), 3)
    if name == "bad crc":
        bad = bad[:DefaultRecordBatch.CRC_OFFSET] + bytes([bad[DefaultRecordBatch.CRC_OFFSET] ^ 1]) + \
            bad[DefaultRecordBatch.CRC_OFFSET + 1:]
    data = batch(mixed(3), 0) + bad
    steps = same(data, check_crcs=check_crcs, takes=(2, 2, 2, 5000))
    errors = [s for s in steps if s[0] == "raised"]
    if name == "bad crc" and not check_crcs:
        assert not errors and len(records_of(steps)) == 13
    else:
        assert errors and errors[0][1] == "CorruptRecordError"
        assert len(records_of(steps)) >= 3  # the good batch before it still came out


def rebase(data: bytes, base_offset: int) -> bytes:
    fields = list(DefaultRecordBatch.HEADER_STRUCT.unpack_from(data))
    fields[0] = base_offset
    return recrc(data, fields)


def test_corrupt_record_raises_corrupt_record_error():
    good = batch([(i, T0, b"key", b"v" * 100, []) for i in range(10)], 0)
    with pytest.raises(CorruptRecordError):
        FastPartitionRecords(0, TP, MemoryRecords(corrupt(good, 0, shorter_by_one))).take(100)


def test_install_swaps_the_fetchers_class_on_a_consumer():
    # The hook: the fetcher builds each fetched partition's records as self.PartitionRecords(...).
    assert "self.PartitionRecords(" in inspect.getsource(Fetcher._parse_fetched_data)
    consumer = KafkaConsumer(bootstrap_servers="localhost:1", api_version=(2, 8))  # connects lazily
    try:
        assert consumer._fetcher.PartitionRecords is Fetcher.PartitionRecords
        assert install(consumer) is True
        assert consumer._fetcher.PartitionRecords is FastPartitionRecords
        assert install(consumer) is True  # twice is harmless
        assert Fetcher.PartitionRecords is not FastPartitionRecords  # other consumers untouched
    finally:
        consumer.close()


def test_install_leaves_an_unknown_kafka_python_alone_and_says_so_once(caplog, monkeypatch):
    monkeypatch.setattr(record_batches, "_warned", False)

    class Changed(Fetcher.PartitionRecords):
        def _unpack_records(self, tp, records):  # a different signature: not the code we know
            return iter(())

    shapes = [types.SimpleNamespace(), types.SimpleNamespace(_fetcher=types.SimpleNamespace()),
              types.SimpleNamespace(_fetcher=types.SimpleNamespace(PartitionRecords=Changed))]
    with caplog.at_level(logging.WARNING, logger="stream.record_batches"):
        for consumer in shapes:
            assert install(consumer) is False
    assert shapes[2]._fetcher.PartitionRecords is Changed
    assert len([r for r in caplog.records if "record_batches" in r.getMessage()]) == 1


def test_install_checks_the_signature_it_was_written_against(monkeypatch):
    consumer = types.SimpleNamespace(_fetcher=types.SimpleNamespace(PartitionRecords=Fetcher.PartitionRecords))
    monkeypatch.setattr(record_batches, "_EXPECTED_INIT", record_batches._EXPECTED_INIT + ["extra"])
    monkeypatch.setattr(record_batches, "_warned", True)
    assert install(consumer) is False  # negative control: a mismatch is caught
    monkeypatch.undo()
    assert install(consumer) is True


# That make_consumer's consumers are hooked is exercised by the integration suite (every service consumer).


def test_the_fast_loop_parses_every_v2_batch_above(monkeypatch):
    # Otherwise the comparisons above could pass with kafka-python parsing everything.
    def refuse(self, tp, batch):
        raise AssertionError("kafka-python's record loop was used")

    monkeypatch.setattr(FastPartitionRecords, "_slow_batch", refuse)
    data = (batch(mixed(250), 0) + batch(mixed(20), 250, compression=1, append_time=T0)
            + batch(mixed(5), 270, producer_id=8, transactional=True) + marker(275, 8, commit=True))
    records = records_of(trace(FastPartitionRecords, data, isolation_level=IsolationLevel.READ_COMMITTED))
    assert len(records) == 275
