"""The failure language of log lines: words and phrases, and the words that undo them.

These lists are general knowledge of how software and hardware report trouble in
English-language logs (errno texts, kernel and driver messages, Java/Python exceptions,
daemon and RAS messages), not a fit to any one log. streams.logs.generic reads them;
docs/logs.md explains the rules that use them. Everything is lower case: the analyser
lowers a line's words (and splits camelCase identifiers) before looking them up.

- STRONG: a line that says one of these reports a failure, unless a negation, a
  recovery or a mechanism noun undoes it ("no errors", "error corrected", "error handler").
  Level words (warning, critical) are not failure words: the line's level is read
  separately (streams.logs.severity) and passed to the analyser.
- WEAK: failure-ish words that are as often routine ("unknown", "not found", "retrying"):
  a fault only with a second weak word, a security context, an error-or-worse level, or
  as a candidate when the template is new on its host (streams.logs.novelty).
- Phrases are token tuples, matched on consecutive words.
"""

from __future__ import annotations

__all__ = [
    "CRITICAL_WORDS",
    "DOMAINS",
    "FILLERS",
    "MECHANISMS",
    "NEGATORS",
    "PHRASE_KEY_AVOID",
    "QUALIFIERS",
    "RECOVERY",
    "RECOVERY_UNDO",
    "STEMS",
    "STRONG",
    "STRONG_PHRASES",
    "TIMEOUT_EXCEEDED",
    "TIMEOUT_SETTING_AFTER",
    "TIMEOUT_SETTING_BEFORE",
    "USER_WORDS",
    "WEAK",
    "WEAK_PHRASES",
    "ZERO",
]

STRONG: frozenset[str] = frozenset({
    "fail", "fails", "failed", "failing", "failure", "failures",
    "error", "errors", "err", "erroneous",
    "fatal", "panic", "panicked", "panicking",
    "exception", "exceptions", "traceback",
    "crash", "crashed", "crashes", "crashing", "segfault", "segfaults",
    "sigsegv", "sigabrt", "sigbus", "sigill",
    "abort", "aborted", "aborts",
    "fault", "faults", "faulted", "faulty", "defective",
    "timeout", "timeouts",  # unless a duration: "timeout 30s", "timeout set to", TIMEOUT_*
    "refused", "refusing", "denied", "forbidden", "unauthorized", "unauthorised",
    "unreachable", "unresponsive",
    "corrupt", "corrupted", "corruption",
    "unable", "cannot", "cant", "couldnt",
    "illegal", "violation", "violations", "intrusion",
    "uncorrectable", "uncorrected", "unrecoverable",
    "oom", "deadlock", "deadlocked", "lockup",
    "broken", "abnormal", "abnormally", "died",
    "overheat", "overheated", "overheating",
})

STRONG_PHRASES: frozenset[tuple[str, ...]] = frozenset({
    ("could", "not"), ("can", "not"), ("not", "able"),
    ("timed", "out"), ("time", "out"), ("times", "out"),
    ("not", "responding"), ("no", "response"), ("not", "connected"), ("not", "reachable"),
    ("out", "of", "memory"), ("no", "space"), ("no", "route"),
    ("reset", "by", "peer"), ("connection", "reset"), ("broken", "pipe"),
    ("core", "dumped"), ("segmentation", "fault"), ("stack", "trace"),
    ("break", "in"),
})

WEAK: frozenset[str] = frozenset({
    "invalid", "unknown", "missing", "unexpected", "unexpectedly", "bad", "wrong",
    "incorrect", "malformed", "lost", "killed", "terminated", "dead",
    "rejected", "reject", "dropped", "expired", "exceeded", "exhausted",
    "mismatch", "mismatched", "inconsistent", "inconsistency", "discrepancy",
    "retry", "retrying", "retries", "degraded", "offline", "unavailable",
    "stuck", "hang", "hung", "stalled", "stall", "overrun", "underrun",
    "overflow", "overflowed", "overloaded", "throttled", "throttling", "unhealthy",
    "assert", "assertion",
})

WEAK_PHRASES: frozenset[tuple[str, ...]] = frozenset({
    ("not", "found"), ("no", "such"), ("did", "not"), ("does", "not"), ("not", "match"),
    ("too", "many"), ("not", "available"), ("not", "ready"), ("not", "running"),
    ("not", "permitted"), ("not", "allowed"), ("not", "accessible"), ("not", "functional"),
    ("not", "mounted"), ("not", "loaded"), ("not", "working"), ("not", "alive"),
    ("not", "healthy"),
})

# "timeout" names a duration, not an event, when a value or a setting word follows it
# ("negotiated timeout 10000", "sessionTimeout set to -1") or a setting word precedes it,
# unless the duration is then said to be exceeded ("timeout of 10000ms exceeded").
TIMEOUT_SETTING_AFTER: frozenset[str] = frozenset({"of", "set", "value", "ms", "sec", "secs",
                                                   "seconds"})
TIMEOUT_SETTING_BEFORE: frozenset[str] = frozenset({"negotiated", "configured", "default",
                                                    "set", "setting", "using", "max", "min"})
TIMEOUT_EXCEEDED: frozenset[str] = frozenset({"exceeded", "expired", "reached", "elapsed",
                                              "hit"})

# The fast test looks for one word per phrase: its first word not in this list of words
# that routine log lines are full of ("Running task", "Found block", "time: 0.2").
PHRASE_KEY_AVOID: frozenset[str] = frozenset({
    "time", "times", "connection", "found", "running", "memory", "space", "peer", "ready",
    "available", "loaded", "match", "response", "trace", "of", "by", "in"})

# Failure words that make the line's own severity critical when it declares none.
CRITICAL_WORDS: frozenset[str] = frozenset({"fatal", "panic", "panicked", "panicking"})

# Substrings that reveal a failure word inside an identifier the tokeniser keeps whole
# (IOException, sendSyncFailedBroadcast, ETIMEDOUT is not one: errno names are words).
STEMS: tuple[str, ...] = ("fail", "error", "exception", "fault", "timeout", "fatal",
                          "panic", "crash")

# A failure word right after one of these is negated: "no errors", "not failed",
# "0 uncorrectable errors", "without any error" (one FILLERS word may sit between).
NEGATORS: frozenset[str] = frozenset({"no", "not", "without", "never", "zero", "0", "none",
                                      "nor", "neither"})
FILLERS: frozenset[str] = frozenset({
    "any", "further", "more", "other", "new", "known", "serious", "major", "significant",
    "real", "fatal", "critical", "severe", "uncorrectable", "uncorrected", "unrecoverable",
    "hardware", "memory", "disk", "network", "such",
})
# A failure word followed by a zero count is negated: "errors 0", "failures: none".
ZERO: frozenset[str] = frozenset({"0", "zero", "none"})
# A failure word followed by one of these names a mechanism, not an event:
# "error handler", "exception support", "fault tolerance", "error count".
MECHANISMS: frozenset[str] = frozenset({
    "handler", "handlers", "handling", "support", "supported", "reporting", "correction",
    "correcting", "detection", "detector", "tolerance", "tolerant", "count", "counts",
    "counter", "counters", "rate", "rates", "threshold", "thresholds", "injection", "log",
    "logs", "logging", "level", "levels", "stats", "statistics", "policy", "policies",
    "recovery", "score",  # "oom_score_adj" is a tunable
})
# A failure word right after one of these is not a failure of this system.
QUALIFIERS: frozenset[str] = frozenset({"expected", "simulated", "injected", "harmless",
                                        "benign", "ignorable"})

# The failure was corrected or recovered: "error corrected", "succeeded after retry".
RECOVERY: frozenset[str] = frozenset({
    "corrected", "correctable", "recovered", "cleared", "repaired", "restored", "healed",
    "succeeded", "successful", "successfully",
})
# ... unless the recovery itself is denied: "could not be corrected", "never recovered".
RECOVERY_UNDO: frozenset[str] = frozenset({"not", "never", "no", "cannot", "cant", "couldnt",
                                           "unable", "failed", "without"})

# Words that put a weak cue in a security context ("invalid user", "user unknown").
USER_WORDS: frozenset[str] = frozenset({"user", "users", "account", "accounts", "login",
                                        "password", "passwd", "pass"})

# Generic fault kinds in order of precedence, each with the words that point to it.
# The first kind with a word in the line names the class (`generic_<kind>`); a line
# whose only failure words are timeouts is a timeout before it is a network fault.
DOMAINS: tuple[tuple[str, frozenset[str]], ...] = (
    ("security", frozenset({
        "auth", "authentication", "authenticate", "authenticated", "authorization",
        "authorize", "authorized", "unauthorized", "unauthorised", "password", "passwd",
        "login", "logon", "logins", "credential", "credentials", "kerberos", "pam",
        "permission", "permissions", "forbidden", "denied", "sudo", "intrusion",
        "certificate", "userauth", "preauth"})),
    ("memory", frozenset({
        "memory", "oom", "ram", "dimm", "ddr", "ecc", "heap", "malloc", "alloc", "allocate",
        "allocation", "swap", "outofmemoryerror"})),
    ("hardware", frozenset({
        "hardware", "cpu", "processor", "cache", "parity", "tlb", "mce", "machine",
        "interrupt", "bus", "pci", "pcie", "firmware", "bios", "acpi", "irq", "fan", "fans",
        "temperature", "thermal", "overheat", "overheated", "overheating", "voltage",
        "power", "psu", "sensor", "chip", "card", "board", "fru", "bmc", "ipmi", "hw",
        "gpu"})),
    ("storage", frozenset({
        "disk", "disks", "drive", "ssd", "hdd", "nvme", "sata", "scsi", "raid", "sector",
        "sectors", "block", "blocks", "blk", "file", "files", "filesystem", "fs", "mount",
        "unmount", "volume", "inode", "journal", "nfs", "lustre", "gpfs", "hdfs", "quota",
        "directory", "storage", "datanode", "namenode", "database", "db", "sqlite", "space"})),
    ("timeout", frozenset({"timeout", "timeouts", "timed", "expired", "deadline"})),
    ("network", frozenset({
        "network", "net", "connection", "connections", "connect", "connected", "connecting",
        "socket", "sockets", "tcp", "udp", "ip", "port", "peer", "peers", "unreachable",
        "interface", "nic", "eth", "dns", "resolve", "proxy", "route", "packet", "packets",
        "rpc", "http", "https", "url", "channel", "stream", "endpoint", "transport",
        "remote", "link", "heartbeat", "gateway", "ping", "getaddrinfo", "ssh", "session",
        "disconnect", "disconnected"})),
    ("process", frozenset({
        "crash", "crashed", "segfault", "core", "dumped", "abort", "aborted", "killed",
        "kill", "exited", "exit", "terminated", "died", "dead", "panic", "signal",
        "sigsegv", "sigabrt", "sigkill", "exception", "traceback", "thread", "process",
        "assert", "assertion", "job", "task", "executor", "worker", "deadlock", "lockup",
        "hung", "hang", "stuck"})),
)
