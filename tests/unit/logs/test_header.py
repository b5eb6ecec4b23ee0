"""Generic headers: formats written by hand from their documented patterns, no-header
lines, and properties (never raises, never drops text, header + message is the line)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logs import parse_line
from streams.logs.header import parse_header

REF = 1_118_000_000_000  # 2005-06-05: supplies the year where a header has none
DAY = 86_400_000


def ms(text: str) -> int:
    """Epoch ms of an ISO time, UTC."""
    from streams.logs.timestamps import iso_to_ms

    value = iso_to_ms(text)
    assert value is not None
    return value


# (line, message, expected header fields). Each line follows a format's documented
# pattern (log4j, logcat, Apache, the loghub collection's format strings, ...); none is
# taken from a data set.
FORMATS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("hdfs", "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block "
     "blk_38865049064139660 terminating", "PacketResponder 1 for block blk_38865049064139660 "
     "terminating", {"severity": "info", "program": "dfs.DataNode$PacketResponder", "pid": 148,
                     "ts": ms("2008-11-09T20:36:15")}),
    ("hadoop", "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app."
     "MRAppMaster: Created MRAppMaster for application appattempt_1445144423722_0020_000001",
     "Created MRAppMaster for application appattempt_1445144423722_0020_000001",
     {"severity": "info", "program": "org.apache.hadoop.mapreduce.v2.app.MRAppMaster",
      "ts": ms("2015-10-18T18:01:47.978"), "extra": {"thread": "main"}}),
    ("spark", "17/06/09 20:10:40 WARN storage.BlockManager: Block rdd_2_0 already exists",
     "Block rdd_2_0 already exists", {"severity": "warning", "program": "storage.BlockManager",
                                      "ts": ms("2017-06-09T20:10:40")}),
    ("zookeeper", "2015-07-29 19:04:29,071 - WARN  [SendWorker:188978561024:QuorumCnxManager$"
     "SendWorker@688] - Send worker leaving thread", "Send worker leaving thread",
     {"severity": "warning", "extra": {"thread": "SendWorker:188978561024:QuorumCnxManager$"
                                       "SendWorker@688"}}),
    ("openstack", "nova-compute.log.2017-05-14_21:27:09 2017-05-14 19:39:22.577 2931 ERROR "
     "nova.compute.manager [req-3ea4052c-895d-4b64-9e2d-04d64c4d94ab - - - - -] [instance: "
     "b2d4a1f8-1c9d-4e59-9c1f-1a2b3c4d5e6f] Instance failed to spawn",
     "[instance: b2d4a1f8-1c9d-4e59-9c1f-1a2b3c4d5e6f] Instance failed to spawn",
     {"severity": "error", "program": "nova.compute.manager", "pid": 2931,
      "extra": {"context": "req-3ea4052c-895d-4b64-9e2d-04d64c4d94ab - - - - -"}}),
    ("bgl", "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 "
     "R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
     "instruction cache parity error corrected",
     {"severity": "info", "host": "R02-M1-N0-C:J12-U11", "ts": 1_117_838_570_000}),
    ("bgl-alert", "KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 2005-06-11-17.32.07."
     "310676 R30-M0-N9-C:J16-U01 RAS KERNEL FATAL data TLB error interrupt",
     "data TLB error interrupt", {"severity": "critical", "host": "R30-M0-N9-C:J16-U01"}),
    ("thunderbird", "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 "
     "crond(pam_unix)[2915]: session closed for user root", "session closed for user root",
     {"host": "dn228", "program": "crond", "pid": 2915, "ts": 1_131_566_461_000}),
    ("windows-cbs", "2016-09-28 04:30:31, Info                  CBS    Starting TrustedInstaller "
     "initialization.", "CBS    Starting TrustedInstaller initialization.",
     {"severity": "info", "ts": ms("2016-09-28T04:30:31")}),
    ("android", "03-17 16:13:38.859  2227  2227 D TextView: visible is system.time.showampm",
     "visible is system.time.showampm", {"severity": "debug", "program": "TextView",
                                         "pid": 2227, "ts": ms("2005-03-17T16:13:38.859")}),
    ("logcat-time", "06-10 12:34:56.789 W/ActivityManager( 1234): Slow operation",
     "Slow operation", {"severity": "warning", "program": "ActivityManager", "pid": 1234}),
    ("apache", "[Sun Dec 04 04:51:18 2005] [error] mod_jk child workerEnv in error state 6",
     "mod_jk child workerEnv in error state 6", {"severity": "error",
                                                 "ts": ms("2005-12-04T04:51:18")}),
    ("healthapp", "20171223-22:15:41:672|Step_LSC|30002312|onExtend:1514038530000 14 0 4",
     "onExtend:1514038530000 14 0 4", {"program": "Step_LSC", "pid": 30002312,
                                       "ts": ms("2017-12-23T22:15:41.672")}),
    ("proxifier", "[10.30 16:49:07] chrome.exe *64 - www.example.org:443 close, 0 bytes sent",
     "www.example.org:443 close, 0 bytes sent", {"program": "chrome.exe"}),
    ("python", "2024-06-10 12:34:56,789 - trainer.data - WARNING - shard 3 slow",
     "shard 3 slow", {"severity": "warning", "program": "trainer.data"}),
    ("loguru", "2024-06-10 12:34:56.789 | ERROR    | __main__:step:88 - loss is nan",
     "loss is nan", {"severity": "error", "program": "__main__:step:88"}),
    ("logback", "12:34:56.789 [main] INFO  com.example.App - Started App in 2.1 seconds",
     "Started App in 2.1 seconds", {"severity": "info", "program": "com.example.App",
                                    "ts": None, "extra": {"thread": "main"}}),
    ("glog", "E0610 12:34:56.123456    1234 nccl_utils.cc:88] NCCL timeout on rank 3",
     "NCCL timeout on rank 3", {"severity": "error", "pid": 1234,
                                "extra": {"source": "nccl_utils.cc:88"}}),
    ("zap", "2024-06-10T12:34:56.789Z\tINFO\tcontroller/reconcile.go:42\treconciled node",
     "reconciled node", {"severity": "info", "extra": {"source": "controller/reconcile.go:42"}}),
    ("slurm", "[2024-06-10T12:34:56.789] error: Nodes gpu[01-04] not responding",
     "Nodes gpu[01-04] not responding", {"severity": "error",
                                         "ts": ms("2024-06-10T12:34:56.789")}),
    ("cri", "2024-06-10T12:34:56.123456789Z stderr F Traceback (most recent call last):",
     "Traceback (most recent call last):", {"extra": {"stream": "stderr"}}),
    ("nginx", "2024/06/10 12:34:56 [crit] 1234#0: *5 open() failed", "1234#0: *5 open() failed",
     {"severity": "critical", "ts": ms("2024-06-10T12:34:56")}),
    ("kafka", "[2024-06-10 12:34:56,789] INFO [KafkaServer id=1] started "
     "(kafka.server.KafkaServer)", "started (kafka.server.KafkaServer)",
     {"severity": "info", "extra": {"thread": "KafkaServer id=1"}}),
    ("dcgm", "[Jun 10 2024 12:34:56] [WARNING] [tid 4242] GPU 3 throttled by power cap",
     "GPU 3 throttled by power cap", {"severity": "warning", "extra": {"thread": "tid 4242"}}),
    ("tomcat", "10-Jun-2024 12:34:56.789 SEVERE [main] org.apache.catalina.core.StandardServer"
     ".await Failed to create server shutdown socket",
     "org.apache.catalina.core.StandardServer.await Failed to create server shutdown socket",
     {"severity": "error"}),
]


class TestFormats:
    @pytest.mark.parametrize(("name", "line", "message", "fields"), FORMATS,
                             ids=[f[0] for f in FORMATS])
    def test_header_split_and_fields(self, name: str, line: str, message: str,
                                     fields: dict[str, Any]) -> None:
        """Each format's header is found without configuration, with its fields."""
        p = parse_line(line, reference_ms=REF)
        assert p.message == message
        for key, value in fields.items():
            if key == "extra":
                assert {k: p.extra.get(k) for k in value} == value
            else:
                assert getattr(p, key) == value, key

    def test_mac_syslog_with_address(self) -> None:
        """macOS: syslog with an address after the pid (the syslog parser reads it)."""
        p = parse_line("Jul  1 09:01:05 calvisitor-10-105-160-95 com.apple.xpc.launchd[1] "
                       "(com.apple.xpc.launchd.domain.pid.WebContent.35704): Service exited "
                       "with abnormal code: 1", reference_ms=REF)
        assert (p.format, p.program, p.pid, p.message) == (
            "rfc3164", "com.apple.xpc.launchd", 1, "Service exited with abnormal code: 1")
        assert p.extra["address"] == "com.apple.xpc.launchd.domain.pid.WebContent.35704"

    def test_application_header_under_syslog(self) -> None:
        """A program's own header inside a syslog message is read too; its level wins."""
        p = parse_line("Jun 10 12:00:00 gpu01 trainer[77]: 2024-06-10 12:00:00,123 - trainer "
                       "- ERROR - loss is nan", reference_ms=REF)
        assert (p.host, p.program, p.pid, p.severity, p.message) == (
            "gpu01", "trainer", 77, "error", "loss is nan")

    def test_iso_time_then_level_is_not_syslog(self) -> None:
        """'ISO-time LEVEL ...' is a logging library's header, not 'time host tag:'."""
        p = parse_line("2024-06-10T12:00:00Z ERROR [main] c.e.Job: failed", reference_ms=REF)
        assert (p.format, p.host, p.severity, p.program, p.message) == (
            "generic", None, "error", "c.e.Job", "failed")

    def test_yearless_time_takes_the_reference_year(self) -> None:
        """logcat's 'MM-dd' time lands in the year closest to the event time."""
        p = parse_line("12-31 23:59:59.000  1  1 I Tag: x", reference_ms=ms("2025-01-01T00:00:05"))
        assert p.ts == ms("2024-12-31T23:59:59")
        assert parse_line("12-31 23:59:59.000  1  1 I Tag: x").ts is None


NOT_HEADERS = [
    "INFO: task python:1234 blocked for more than 120 seconds.",
    "gpu01:1234:1234 [0] NCCL WARN Call to ibv_create_cq failed",
    '10.11.10.1 "GET /v2/servers/detail HTTP/1.1" status: 200 len: 1893 time: 0.2477829',
    "Connection from 1.2.3.4 port 22 on 10.0.0.1 port 22",
    "3 blocks missing on node 7",
    "connection from 210.245.165.136 () at Wed Jun 22 13:16:30 2005",
    "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change",
]


class TestNoHeader:
    @pytest.mark.parametrize("line", NOT_HEADERS)
    def test_message_lines_stay_whole(self, line: str) -> None:
        """Lines with no time near their start are not cut: the message is the line."""
        assert parse_header(line, REF) is None
        assert parse_line(line, reference_ms=REF).message == line

    def test_time_then_prose_keeps_the_prose(self) -> None:
        """After a bare time, words without a level or component are the message."""
        p = parse_line("2024-06-10 12:00:00 Connection failed - retrying", reference_ms=REF)
        assert p.message == "Connection failed - retrying"

    def test_kernel_prefixes_are_never_taken_as_components(self) -> None:
        """'NVRM:' right after a time stays in the message, where the catalogue reads it."""
        p = parse_line("2024-06-10 12:00:00 NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=x",
                       reference_ms=REF)
        assert p.message.startswith("NVRM: Xid")


TIMES = st.sampled_from([
    "2024-06-10 12:34:56,789", "2024-06-10T12:34:56.789Z", "17/06/09 20:10:40",
    "081109 203615", "[10.30 16:49:06]", "20171223-22:15:29:606", "Jun 14 15:16:01",
    "[Sun Dec 04 04:47:44 2005]", "03-17 16:13:38.811", "1117838570 2005.06.03",
])
MIDDLES = st.sampled_from([
    "", " -", " 1234", " node-7", " 12 13", " [main]", " - app -", " | x |", " host", "  1 2",
])
LEVELS = st.sampled_from(["", " INFO", " WARN", " Error", " [notice]", " D", " err:"])
AFTER = st.sampled_from(["", " [t-1]", " a.b.C:", " a.b.C [req-1 - -]", " -", " Tag:"])
BODY = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs")), min_size=1,
               max_size=20)


class TestProperties:
    @settings(max_examples=300)
    @given(st.text(max_size=200))
    def test_never_raises_and_message_is_a_suffix(self, text: str) -> None:
        """Any text: no exception, and the message is the line's tail (nothing dropped)."""
        p = parse_header(text, REF)
        if p is not None:
            assert text.endswith(p.message)
            assert text[: len(text) - len(p.message)].strip() != ""
            assert p.format == "generic"

    @settings(max_examples=300)
    @given(TIMES, MIDDLES, LEVELS, AFTER, st.lists(BODY, min_size=1, max_size=6))
    def test_header_plus_message_is_the_line(self, time: str, middle: str, level: str,
                                             after: str, words: list[str]) -> None:
        """Composed headers: the line is always header + message, and the time is found."""
        line = f"{time}{middle}{level}{after} " + " ".join(words)
        p = parse_line(line, reference_ms=REF)
        # "ISO-time word ..." may be syslog's, "[ctime] word" dmesg -T's: same property
        assert p.format in ("generic", "rfc3164", "kernel")
        head = line[: len(line) - len(p.message)]
        assert head + p.message == line
        assert head.strip().startswith(time.split()[0])
