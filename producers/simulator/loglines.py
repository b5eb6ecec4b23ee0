"""Log lines as real systems print them: NVRM Xids, OOM kills, NCCL watchdogs, syslog.

Kernel messages are rendered as /dev/kmsg records (`prio,seq,usec,-;message`),
exactly what the agent ships from the kernel log; syslog lines carry an RFC 3164
header; application lines are PyTorch's glog-style output. Everything here is a
pure function of its arguments (randomness comes from the caller's generator).
"""

from __future__ import annotations

import random
import time

__all__ = [
    "KERN_ERR",
    "KERN_INFO",
    "KERN_WARNING",
    "background_syslog",
    "boot_lines",
    "link_line",
    "nccl_watchdog",
    "nvme_timeout",
    "oom_lines",
    "syslog_line",
    "xid_lines",
]

KERN_ERR, KERN_WARNING, KERN_INFO = 3, 4, 6

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _bus(pci: str) -> str:
    """NVRM's short bus form: "0000:3b:00"."""
    return pci


def xid_lines(xid: int, pci: str, pid: int, process: str, rng: random.Random,
              uuid: str = "") -> list[tuple[int, str]]:
    """(kernel level, message) lines the NVIDIA driver prints for an XID."""
    head = f"NVRM: Xid (PCI:{_bus(pci)}): {xid}, pid={pid}, name={process}, "
    if xid == 79:
        return [(KERN_ERR, f"NVRM: GPU at PCI:{pci}: {uuid}"),
                (KERN_ERR, head + "GPU has fallen off the bus."),
                (KERN_ERR, f"NVRM: GPU {pci}.0: GPU has fallen off the bus.")]
    if xid == 48:
        part, sub = rng.randrange(8), rng.randrange(2)
        return [(KERN_ERR, head + "An uncorrectable double bit error (DBE) has been detected "
                 f"on GPU in the framebuffer at partition {part}, subpartition {sub}.")]
    if xid == 63:
        row = rng.randrange(1 << 20, 1 << 24)
        return [(KERN_WARNING, head + f"Row Remapper: New row (0x{row:016x}) marked for "
                 "remapping, reset gpu to activate.")]
    if xid == 64:
        row = rng.randrange(1 << 20, 1 << 24)
        return [(KERN_ERR, head + f"Row Remapper Error: New row (0x{row:016x}) could not be "
                 "remapped: remapping resources exhausted.")]
    if xid == 74:
        link = rng.randrange(18)
        return [(KERN_ERR, head + f"NVLink: fatal error detected on link {link}"
                 "(0x0, 0x0, 0x10000, 0x0, 0x0, 0x0, 0x0)")]
    return [(KERN_ERR, head + f"Graphics Exception: ESR 0x{rng.randrange(1 << 24):x}")]


def oom_lines(process: str, pid: int, total_vm_kb: int, rss_kb: int,
              rng: random.Random) -> list[tuple[int, str]]:
    """The OOM killer's account of a kill."""
    pgtables = rss_kb // 500
    return [
        (KERN_WARNING, f"{process} invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|"
                       "__GFP_COMP), order=0, oom_score_adj=0"),
        (KERN_ERR, f"Out of memory: Killed process {pid} ({process}) total-vm:{total_vm_kb}kB, "
                   f"anon-rss:{rss_kb}kB, file-rss:{rng.randrange(1000, 90000)}kB, "
                   f"shmem-rss:0kB, UID:1000 pgtables:{pgtables}kB oom_score_adj:0"),
        (KERN_INFO, f"oom_reaper: reaped process {pid} ({process}), now anon-rss:0kB, "
                    "file-rss:0kB, shmem-rss:0kB"),
    ]


def nvme_timeout(ctrl: int, rng: random.Random) -> tuple[int, str]:
    """A slow NVMe device's command timeout."""
    return (KERN_WARNING, f"nvme nvme{ctrl}: I/O {rng.randrange(1024)} QID "
                          f"{rng.randrange(1, 64)} timeout, aborting")


def link_line(pci: str, interface: str, up: bool) -> tuple[int, str]:
    """mlx5's link state change."""
    return (KERN_INFO, f"mlx5_core {pci}.0 {interface}: Link {'up' if up else 'down'}")


def boot_lines(kernel: str) -> list[tuple[int, str]]:
    """The first kernel lines after a (re)boot."""
    return [
        (5, f"Linux version {kernel} (buildd@lcy02-amd64-045) (x86_64-linux-gnu-gcc-12 (Ubuntu "
            "12.3.0-1ubuntu1~22.04) 12.3.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #101-Ubuntu "
            "SMP PREEMPT_DYNAMIC"),
        (KERN_INFO, f"Command line: BOOT_IMAGE=/boot/vmlinuz-{kernel} root=/dev/nvme0n1p2 ro "
                    "quiet splash"),
    ]


def _glog_time(ts_ms: int) -> str:
    t = time.gmtime(ts_ms // 1000)
    return f"{t.tm_mon:02d}{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}." \
           f"{(ts_ms % 1000) * 1000:06d}"


def nccl_watchdog(rank: int, ts_ms: int, pid: int, seq_num: int, numel: int,
                  timeout_ms: int, ran_ms: int) -> str:
    """PyTorch's ProcessGroupNCCL watchdog line for a timed-out collective."""
    return (f"[rank{rank}]:[E{_glog_time(ts_ms)} {pid} ProcessGroupNCCL.cpp:632] "
            f"[Rank {rank}] Watchdog caught collective operation timeout: "
            f"WorkNCCL(SeqNum={seq_num}, OpType=ALLREDUCE, NumelIn={numel}, NumelOut={numel}, "
            f"Timeout(ms)={timeout_ms}) ran for {ran_ms} milliseconds before timing out.")


def syslog_line(ts_ms: int, host: str, program: str, pid: int | None, message: str) -> str:
    """An RFC 3164 line as rsyslog writes it to /var/log/syslog."""
    t = time.gmtime(ts_ms // 1000)
    tag = f"{program}[{pid}]" if pid is not None else program
    return (f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:"
            f"{t.tm_sec:02d} {host} {tag}: {message}")


def background_syslog(ts_ms: int, host: str, rng: random.Random) -> str:
    """Everyday noise: cron, sessions, ssh logins, timers."""
    pick = rng.randrange(6)
    pid = rng.randrange(1000, 400000)
    if pick == 0:
        return syslog_line(ts_ms, host, "CRON", pid,
                           "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)")
    if pick == 1:
        return syslog_line(ts_ms, host, "systemd", 1,
                           f"Started Session {rng.randrange(1, 99999)} of User ubuntu.")
    if pick == 2:
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        return syslog_line(ts_ms, host, "sshd", pid,
                           f"Accepted publickey for ubuntu from {ip} port "
                           f"{rng.randrange(1024, 65535)} ssh2: ED25519 SHA256:"
                           f"{rng.getrandbits(128):032x}")
    if pick == 3:
        return syslog_line(ts_ms, host, "systemd", 1,
                           "Starting Daily apt download activities...")
    if pick == 4:
        return syslog_line(ts_ms, host, "nvidia-persistenced", rng.randrange(1500, 3000),
                           "Verbose syslog connection opened")
    return syslog_line(ts_ms, host, "systemd-logind", rng.randrange(800, 1500),
                       f"Removed session {rng.randrange(1, 99999)}.")
