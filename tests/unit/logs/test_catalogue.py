"""The fault catalogue: every entry and XID code against real-looking lines, and validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from streams.logs.catalogue import DEFAULT_PATH, CatalogueError, FaultCatalogue

CAT = FaultCatalogue.default()

# (line as the message content, entry id, fault class, labels that must be extracted)
EXAMPLES: list[tuple[str, str, str, dict[str, str]]] = [
    ("Kernel panic - not syncing: Fatal exception in interrupt",
     "kernel_panic", "kernel_panic", {}),
    ("Kernel panic - not syncing: Fatal machine check",  # a panic, whatever caused it
     "kernel_panic", "kernel_panic", {}),
    # NVSwitch
    ("nvidia-nvswitch0: SXid (PCI:0000:05:00.0): 12028, Non-fatal, Link 32 egress non-posted "
     "PRIV error (First)", "nvswitch_sxid", "nvlink_error",
     {"sxid": "12028", "pci": "0000:05:00.0"}),
    ("nvidia-nvswitch3: SXid (PCI:0000:c5:00.0): 24007, Fatal, Link 45 sourcetrack TCEN0 "
     "crumbstore ECC DBE Error (First)", "nvswitch_sxid", "nvlink_error", {"level": "Fatal"}),
    # GPU memory
    ("RuntimeError: CUDA error: uncorrectable ECC error encountered",
     "gpu_ecc_dbe", "gpu_ecc_dbe", {}),
    ("dcgm: GPU 3: Double Bit ECC Error detected, volatile count 1",
     "gpu_ecc_dbe", "gpu_ecc_dbe", {}),
    ("GPU 0000:3b:00.0: 12 single-bit ECC errors corrected in the last hour",
     "gpu_ecc_sbe", "gpu_ecc_sbe", {}),
    ("Row remapping failed for GPU 0000:86:00.0: no spare rows available",
     "gpu_row_remap_failure", "gpu_row_remap_failure", {}),
    ("    Remapping Failure Occurred        : Yes", "gpu_row_remap_failure",
     "gpu_row_remap_failure", {}),
    # NVLink
    ("NVRM: NVLink: fatal error detected on link 3(0x10000, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0)",
     "nvlink_error", "nvlink_error", {}),
    ("fabricmanager: NVLink training failed for GPU 0000:3b:00.0 link 5",
     "nvlink_error", "nvlink_error", {}),
    # GPU other
    ("NVRM: GPU 0000:3b:00.0: RmInitAdapter failed! (0x26:0xffff:1290)",
     "gpu_init_failure", "gpu_init_failure", {"pci": "0000:3b:00.0"}),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB "
     "total capacity)", "cuda_oom", "cuda_oom", {}),
    # host memory / CPU
    ("Out of memory: Killed process 1234 (python) total-vm:123456kB, anon-rss:120000kB, "
     "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:400kB oom_score_adj:0",
     "oom_kill", "oom_kill", {"pid": "1234", "process": "python"}),
    ("Memory cgroup out of memory: Killed process 4242 (pt_main_thread) total-vm:9999kB",
     "oom_kill", "oom_kill", {"pid": "4242", "process": "pt_main_thread"}),
    ("Out of memory: Kill process 999 (java) score 900 or sacrifice child",
     "oom_kill", "oom_kill", {"pid": "999", "process": "java"}),
    ("python3 invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, "
     "oom_score_adj=0", "oom_invoked", "oom_kill", {"process": "python3"}),
    ("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0-1",
     "oom_invoked", "oom_kill", {}),
    ("Killed /user.slice/user-1000.slice/session-3.scope due to memory pressure for "
     "/user.slice/user-1000.slice being 92.14% > 80.00% for > 20s with reclaim activity",
     "oomd_kill", "oom_kill", {}),
    ("mce: [Hardware Error]: CPU 12: Machine Check Exception: 5 Bank 4: b200000000070005",
     "mce_uncorrected", "mce", {}),
    ("mce: [Hardware Error]: Machine check events logged", "mce", "mce", {}),
    ("EDAC MC1: 1 UE memory read error on CPU_SrcID#1_Ha#0_Chan#2_DIMM#0 (channel:2 slot:0)",
     "host_mem_ecc_ue", "host_mem_ecc_ue", {"mc": "MC1", "count": "1"}),
    ("EDAC MC0: 3 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 "
     "page:0x5a3c offset:0x0 grain:32 syndrome:0x0)", "host_mem_ecc_ce", "host_mem_ecc_ce",
     {"count": "3"}),
    ("CPU17: Package temperature above threshold, cpu clock throttled (total events = 4)",
     "cpu_thermal_throttle", "cpu_thermal_throttle", {"cpu": "17"}),
    # kernel health
    ("watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [python:1234]",
     "soft_lockup", "soft_lockup", {"cpu": "3", "seconds": "22", "process": "python",
                                    "pid": "1234"}),
    ("BUG: soft lockup - CPU#0 stuck for 67s! [kworker/0:1:88]",  # colons in the task name
     "soft_lockup", "soft_lockup", {"process": "kworker/0:1", "pid": "88"}),
    ("Watchdog detected hard LOCKUP on cpu 5", "hard_lockup", "hard_lockup", {"cpu": "5"}),
    ("rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", "rcu_stall", "rcu_stall", {}),
    ("INFO: task kworker/1:2:123 blocked for more than 120 seconds.",
     "hung_task", "hung_task", {"process": "kworker/1:2", "pid": "123", "seconds": "120"}),
    ("INFO: task python3:48213 blocked for more than 245 seconds.",
     "hung_task", "hung_task", {"process": "python3", "pid": "48213"}),
    ("BUG: unable to handle kernel NULL pointer dereference at 0000000000000008",
     "kernel_oops", "kernel_oops", {}),
    ("Oops: 0002 [#1] SMP NOPTI", "kernel_oops", "kernel_oops", {}),
    ("general protection fault, probably for non-canonical address 0xdead000000000100: "
     "0000 [#1] SMP", "kernel_oops", "kernel_oops", {}),
    ("python[8812]: segfault at 0 ip 00007f3a2b4c5d6e sp 00007ffd1e2f3a40 error 4 in "
     "libc.so.6[7f3a2b400000+195000]", "segfault", "segfault",
     {"process": "python", "pid": "8812"}),
    # PCIe
    ("pcieport 0000:00:03.0: AER: Uncorrected (Fatal) error received: 0000:3b:00.0",
     "pcie_aer_uncorrected", "pcie_aer_uncorrected", {"pci": "0000:3b:00.0"}),
    ("pcieport 0000:00:03.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), "
     "type=Transaction Layer, (Requester ID)", "pcie_aer_uncorrected", "pcie_aer_uncorrected",
     {}),
    ("pcieport 0000:00:01.0: AER: Corrected error received: 0000:01:00.0",
     "pcie_aer_corrected", "pcie_aer_corrected", {"pci": "0000:01:00.0"}),
    # disks
    ("blk_update_request: I/O error, dev sda, sector 12345",
     "blk_io_error", "disk_io_error", {"device": "sda", "sector": "12345"}),
    ("I/O error, dev nvme0n1, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0",
     "blk_io_error", "disk_io_error", {"device": "nvme0n1", "sector": "2048"}),
    ("critical medium error, dev sdb, sector 77 op 0x0:(READ) flags 0x0 phys_seg 1",
     "blk_io_error", "disk_io_error", {"device": "sdb"}),
    ("Buffer I/O error on dev sda1, logical block 0, async page read",
     "buffer_io_error", "disk_io_error", {"device": "sda1"}),
    ("nvme nvme0: I/O 123 QID 4 timeout, aborting", "nvme_timeout", "disk_io_error",
     {"device": "nvme0"}),
    ("nvme nvme1: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff",
     "nvme_timeout", "disk_io_error", {"device": "nvme1"}),
    ("sd 0:0:0:0: [sda] tag#12 Sense Key : Medium Error [current]",
     "scsi_medium_error", "disk_io_error", {"device": "sda"}),
    ("ata1.00: failed command: READ FPDMA QUEUED", "ata_error", "disk_io_error",
     {"device": "ata1.00"}),
    # filesystems
    ("EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: comm ls: reading directory "
     "lblock 0", "ext4_error", "fs_error", {"device": "sda1"}),
    ("EXT4-fs (nvme0n1p2): Remounting filesystem read-only", "fs_readonly", "fs_error",
     {"device": "nvme0n1p2"}),
    ("Aborting journal on device sda1-8.", "fs_readonly", "fs_error", {"device": "sda1"}),
    ("Aborting journal on device dm-0-8.", "fs_readonly", "fs_error", {"device": "dm-0"}),
    ('XFS (dm-0): metadata I/O error in "xfs_buf_iodone_callback_error" at daddr 0x1 len 1 '
     "error 5", "xfs_error", "fs_error", {"device": "dm-0"}),
    ("XFS (sdb1): Corruption detected. Unmount and run xfs_repair", "xfs_error", "fs_error",
     {"device": "sdb1"}),
    ("BTRFS error (device sdc1): bdev /dev/sdc1 errs: wr 0, rd 1, flush 0, corrupt 0, gen 0",
     "btrfs_error", "fs_error", {"device": "sdc1"}),
    ("OSError: [Errno 28] No space left on device: '/scratch/ckpt/step_1000.pt'",
     "fs_full", "fs_full", {}),
    # InfiniBand
    ("gpu01:1234:5678 [3] NCCL WARN NET/IB : Got completion from peer 10.0.0.2<52142> with "
     "error 12, opcode 32639, len 0, vendor err 129 (Recv)", "ib_completion_error", "ib_error",
     {"wc_status": "12"}),
    ("ibv_create_qp failed: Cannot allocate memory", "ib_completion_error", "ib_error", {}),
    ("ib0: Link down", "ipoib_link_down", "ib_error", {"interface": "ib0"}),
    ("mlx5_ib: mlx5_0 port 1 state changed to DOWN", "ib_port_down", "ib_error",
     {"port": "1"}),
    ("infiniband mlx5_2: mlx5_ib_query_port failed, error -5", "ib_port_down", "ib_error", {}),
    ("mlx5_core 0000:5e:00.0: mlx5_0:1: local link integrity error counter increased",
     "ib_link_integrity", "ib_error", {}),
    # NICs
    ("mlx5_core 0000:5e:00.0 ens1f0: Link down", "nic_link_down", "nic_link_down",
     {"driver": "mlx5_core", "pci": "0000:5e:00.0", "interface": "ens1f0"}),
    ("ixgbe 0000:01:00.0 eth0: NIC Link is Down", "nic_link_down", "nic_link_down",
     {"interface": "eth0", "pci": "0000:01:00.0"}),
    ("e1000e: eno1 NIC Link is Down", "nic_link_down", "nic_link_down", {"interface": "eno1"}),
    ("bond0: link status definitely down for interface eth1, disabling it",
     "nic_link_down", "nic_link_down", {"interface": "eth1"}),
    ("NETDEV WATCHDOG: eth2 (ixgbe): transmit queue 3 timed out", "nic_tx_timeout",
     "nic_tx_timeout", {"interface": "eth2", "driver": "ixgbe", "queue": "3"}),
    # NCCL
    ("[Rank 5] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1234, "
     "OpType=ALLREDUCE, NumelIn=262144, NumelOut=262144, Timeout(ms)=600000) ran for 600123 "
     "milliseconds before timing out.", "nccl_watchdog_timeout", "nccl_timeout",
     {"rank": "5", "seq_num": "1234", "op": "ALLREDUCE"}),
    ("Some NCCL operations have failed or timed out. Due to the asynchronous nature of CUDA "
     "kernels, subsequent GPU operations might run on corrupted/incomplete data.",
     "nccl_timeout_other", "nccl_timeout", {}),
    ("RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1269, "
     "unhandled system error, NCCL version 2.14.3", "nccl_error", "nccl_error", {}),
    ("torch.distributed.DistBackendError: NCCL communicator was aborted on rank 3.",
     "nccl_error", "nccl_error", {}),
    ("gpu02:2311:2398 [1] NCCL WARN Net : Connection closed by remote peer "
     "gpu03.cluster<46122>", "nccl_warn", "nccl_error", {}),
]

XID_LINES: dict[str, str] = {
    "8": "NVRM: Xid (PCI:0000:3b:00): 8, pid=1234, name=python, Channel 00000010",
    "13": "NVRM: Xid (PCI:0000:3b:00): 13, pid=1234, name=python, Graphics SM Warp Exception "
          "on (GPC 0, TPC 1, SM 0): Out Of Range Address",
    "31": "NVRM: Xid (PCI:0000:3b:00): 31, pid=1234, name=python, Ch 00000008, intr 10000000. "
          "MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ 0x7f12_34560000",
    "32": "NVRM: Xid (PCI:0000:3b:00): 32, pid=1234, name=python, Channel ID 0000000a intr "
          "00040000",
    "38": "NVRM: Xid (PCI:0000:3b:00): 38, pid=1234, name=python, 0000 0000 00000000",
    "43": "NVRM: Xid (PCI:0000:3b:00): 43, pid=1234, name=python, Ch 00000010",
    "45": "NVRM: Xid (PCI:0000:3b:00): 45, pid=1234, name=python, Ch 00000010",
    "48": "NVRM: Xid (PCI:0000:86:00): 48, pid=4321, name=python3, An uncorrectable double bit "
          "error (DBE) has been detected on GPU in the framebuffer at partition 6, "
          "subpartition 0.",
    "54": "NVRM: Xid (PCI:0000:3b:00): 54, Auxiliary power is not connected to the GPU board",
    "61": "NVRM: Xid (PCI:0000:3b:00): 61, pid='<unknown>', name=<unknown>, 0cbc(3078) "
          "00000000 00000000",
    "62": "NVRM: Xid (PCI:0000:3b:00): 62, pid='<unknown>', name=<unknown>, 0d94(2fd4) "
          "00000000 00000000",
    "63": "NVRM: Xid (PCI:0000:3b:00): 63, pid='<unknown>', name=<unknown>, Row Remapper: New "
          "row (0x0000000000aa0a0a) is marked for remapping, reset gpu to activate.",
    "64": "NVRM: Xid (PCI:0000:3b:00): 64, pid='<unknown>', name=<unknown>, Row Remapper Error: "
          "(0x0000000000aa0a0a) - All reserved rows for bank are remapped",
    "68": "NVRM: Xid (PCI:0000:3b:00): 68, pid=1234, name=ffmpeg, NVDEC0 Exception: Error "
          "code 0x00000002",
    "69": "NVRM: Xid (PCI:0000:3b:00): 69, pid=1234, name=python, Class Error: ChId 0010",
    "74": "NVRM: Xid (PCI:0000:3b:00): 74, pid=1234, name=python, NVLink: fatal error "
          "detected on link 5(0x0, 0x0, 0x10000, 0x0, 0x0, 0x0, 0x0)",
    "79": "NVRM: Xid (PCI:0000:3b:00): 79, pid=2345, name=python, GPU has fallen off the bus.",
    "92": "NVRM: Xid (PCI:0000:3b:00): 92, pid='<unknown>', name=<unknown>, High single-bit "
          "ECC error rate",
    "94": "NVRM: Xid (PCI:0000:3b:00): 94, pid=1234, name=python, Contained: SM (0x1). RST: "
          "No, D-RST: No",
    "95": "NVRM: Xid (PCI:0000:3b:00): 95, pid=1234, name=python, Uncontained: FBHUB. RST: "
          "Yes, D-RST: No",
    "109": "NVRM: Xid (PCI:0000:3b:00): 109, pid=1234, name=python, Ch 00000010, errorString "
           "CTX SWITCH TIMEOUT, Info 0x3c014",
    "119": "NVRM: Xid (PCI:0000:b1:00): 119, pid=1234, name=python, Timeout after 6s of "
           "waiting for RPC response from GPU1 GSP! Expected function 76 (GSP_RM_CONTROL)",
    "120": "NVRM: Xid (PCI:0000:b1:00): 120, pid=1234, name=python, GSP task timeout @ pc:0x4",
    "121": "NVRM: Xid (PCI:0009:01:00): 121, pid=1234, name=python, C2C link error",
    "140": "NVRM: Xid (PCI:0000:3b:00): 140, pid=1234, name=python, An unrecovered ECC error "
           "has been detected",
    "154": "NVRM: Xid (PCI:0000:e5:00): 154, GPU recovery action changed from 0x0 (None) to "
           "0x1 (GPU Reset Required)",
}

# Lines that look like faults to a careless matcher but are not.
NOT_FAULTS = [
    "Intel machine check architecture supported.",
    "Intel machine check reporting enabled on CPU#0.",
    "gpu01:1:2 [0] NCCL INFO NCCL_IB_TIMEOUT set by environment to 22.",
    "gpu01:1:2 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/NVLink",
    "gpu01:1:2 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB ; OOB ib0:10.0.0.1<0>",
    "mlx5_core 0000:5e:00.0 ens1f0: Link up",
    "e1000e: eno1 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
    "EDAC MC: Ver: 3.0.0",
    "pcieport 0000:00:01.0: AER: enabled with IRQ 122",
    "EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)",
    "XFS (sdb1): Mounting V5 Filesystem",
    "nvme nvme0: 64/0/0 default/read/poll queues",
    "session opened for user root by (uid=0)",
    "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.104.05",
    "Checking 'hlt' instruction... OK.",
    "Received disconnect from 1.2.3.4: 11: Bye Bye [preauth]",
]


class TestExamples:
    @pytest.mark.parametrize(("line", "entry", "fault_class", "labels"), EXAMPLES,
                             ids=[f"{e[1]}-{i}" for i, e in enumerate(EXAMPLES)])
    def test_entry(self, line: str, entry: str, fault_class: str, labels: dict[str, str]) -> None:
        """Each real-looking line is classified by the intended entry with its labels."""
        m = CAT.classify(line)
        assert m is not None, line
        assert (m.entry_id, m.fault_class) == (entry, fault_class)
        assert labels.items() <= m.labels.items()
        assert m.severity in ("critical", "warning", "info")
        assert m.action and m.description

    @pytest.mark.parametrize(("code", "line"),
                             [(c, XID_LINES[c]) for c in sorted(XID_LINES, key=int)])
    def test_xid(self, code: str, line: str) -> None:
        """Each catalogued XID gets its own class, meaning, action and the PCI address."""
        m = CAT.classify(line, "kernel")
        assert m is not None
        assert (m.fault_class, m.xid, m.component) == (f"gpu_xid_{code}", int(code), "gpu")
        variant = CAT.entry("gpu_xid").variants[code]
        assert (m.severity, m.description, m.action) == (variant.severity, variant.description,
                                                         variant.action)
        assert m.labels["pci"].startswith("000")

    def test_unknown_xid_still_classified(self) -> None:
        """An XID code not in the table gets gpu_xid_<code> and the default text."""
        m = CAT.classify("NVRM: Xid (PCI:0000:3b:00): 999, pid=1, name=x, something new")
        assert m is not None
        assert (m.fault_class, m.xid, m.severity) == ("gpu_xid_999", 999, "warning")

    def test_old_driver_xid_format(self) -> None:
        """Older drivers omit 'PCI:' in the XID prefix."""
        m = CAT.classify("NVRM: Xid (0000:03:00): 13, 0002 00000000 0000b197 00001004")
        assert m is not None
        assert (m.fault_class, m.labels["pci"]) == ("gpu_xid_13", "0000:03:00")

    @pytest.mark.parametrize("line", NOT_FAULTS)
    def test_not_a_fault(self, line: str) -> None:
        """Routine lines that share words with faults are not classified."""
        assert CAT.classify(line) is None

    def test_required_codes_present(self) -> None:
        """The XID codes the operations baseline asks for are all catalogued."""
        required = {13, 31, 43, 45, 48, 61, 62, 63, 64, 68, 74, 79, 92, 94, 95, 119, 120}
        assert required <= {int(k) for k in CAT.entry("gpu_xid").variants}


class TestCoverage:
    def test_every_entry_has_an_example(self) -> None:
        """Adding a catalogue entry without an example line here fails this test."""
        covered = {e[1] for e in EXAMPLES} | {"gpu_xid"}
        assert {e.id for e in CAT.entries} == covered

    def test_every_xid_variant_has_an_example(self) -> None:
        """Adding an XID code without an example line here fails this test."""
        assert set(CAT.entry("gpu_xid").variants) == set(XID_LINES)

    def test_classes_required_by_the_issue(self) -> None:
        """The fault classes the issue names all exist."""
        classes = {e.fault_class for e in CAT.entries}
        assert {"gpu_ecc_dbe", "gpu_ecc_sbe", "gpu_row_remap_failure", "nvlink_error",
                "oom_kill", "disk_io_error", "fs_error", "nic_link_down", "ib_error",
                "nccl_timeout", "nccl_error", "soft_lockup", "hung_task", "kernel_panic",
                "mce", "gpu_xid_{xid}"} <= classes


class TestPrefilterAndPrograms:
    def test_keyword_gate(self) -> None:
        """An entry is not tried when none of its keywords occurs, even if the regex would match."""
        data = {"version": 1, "entries": [{
            "id": "e", "fault_class": "c", "component": "x", "severity": "info",
            "keywords": ["zzz"], "pattern": "boom", "description": "d", "action": "a"}]}
        cat = FaultCatalogue.from_dict(data)
        assert cat.classify("boom") is None
        assert cat.classify("boom ZZZ") is not None

    def test_programs_filter(self) -> None:
        """An entry limited to programs skips other programs but accepts unknown ones."""
        data = {"version": 1, "entries": [{
            "id": "e", "fault_class": "c", "component": "x", "severity": "info",
            "keywords": ["boom"], "pattern": "boom", "description": "d", "action": "a",
            "programs": ["kernel"]}]}
        cat = FaultCatalogue.from_dict(data)
        assert cat.classify("boom", "kernel") is not None
        assert cat.classify("boom", None) is not None
        assert cat.classify("boom", "sshd") is None

    def test_first_match_wins(self) -> None:
        """Entries are tried in file order: an XID 48 line is gpu_xid_48, not gpu_ecc_dbe."""
        m = CAT.classify(XID_LINES["48"])
        assert m is not None
        assert m.fault_class == "gpu_xid_48"


def good_entry(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": "e", "fault_class": "c", "component": "x", "severity": "info",
        "keywords": ["k"], "pattern": "k", "description": "d", "action": "a"}
    entry.update(overrides)
    return entry


class TestValidation:
    def test_all_problems_reported_together(self) -> None:
        """Bad regex, bad severity, unknown key and missing field: one error lists them all."""
        data = {"version": 1, "entries": [
            good_entry(id="a", pattern="(unclosed"),
            good_entry(id="b", severity="disaster"),
            good_entry(id="c", colour="red"),
            {k: v for k, v in good_entry(id="d").items() if k != "action"},
        ]}
        with pytest.raises(CatalogueError) as err:
            FaultCatalogue.from_dict(data)
        text = "\n".join(err.value.problems)
        assert "bad pattern" in text
        assert "severity" in text
        assert "'colour'" in text
        assert "missing 'action'" in text
        assert len(err.value.problems) == 4

    def test_placeholder_must_be_a_group(self) -> None:
        """fault_class '{code}' needs a regex group named code."""
        with pytest.raises(CatalogueError, match="placeholders"):
            FaultCatalogue.from_dict({"version": 1, "entries": [
                good_entry(fault_class="x_{code}")]})

    def test_generic_prefix_is_reserved(self) -> None:
        """fault_class 'generic_*' belongs to the generic layer; an entry may not use it."""
        with pytest.raises(CatalogueError, match="reserved"):
            FaultCatalogue.from_dict({"version": 1, "entries": [
                good_entry(fault_class="generic_disk")]})

    def test_duplicate_ids(self) -> None:
        """Two entries with one id are refused."""
        with pytest.raises(CatalogueError, match="duplicate"):
            FaultCatalogue.from_dict({"version": 1, "entries": [good_entry(), good_entry()]})

    def test_empty_keywords_refused(self) -> None:
        """An entry without keywords could never be reached: refused."""
        with pytest.raises(CatalogueError, match="keywords"):
            FaultCatalogue.from_dict({"version": 1, "entries": [good_entry(keywords=[])]})

    def test_variant_keys_closed(self) -> None:
        """A variant may only override severity, description and action."""
        with pytest.raises(CatalogueError, match="variant"):
            FaultCatalogue.from_dict({"version": 1, "entries": [good_entry(
                pattern="(?P<n>k)", variants_by="n", variants={"k": {"component": "y"}})]})

    def test_wrong_version(self) -> None:
        """A catalogue of another format version is refused."""
        with pytest.raises(CatalogueError, match="version"):
            FaultCatalogue.from_dict({"version": 2, "entries": [good_entry()]})

    def test_load_json_file(self, tmp_path: Path) -> None:
        """A catalogue may be kept as JSON too (loaded by the same YAML reader)."""
        path = tmp_path / "faults.json"
        path.write_text(json.dumps({"version": 1, "entries": [good_entry()]}))
        assert FaultCatalogue.load(path).classify("a k line") is not None

    def test_shipped_file_is_valid_yaml_with_unique_ids(self) -> None:
        """The shipped catalogue parses and every id is unique."""
        data = yaml.safe_load(DEFAULT_PATH.read_text())
        ids = [e["id"] for e in data["entries"]]
        assert len(ids) == len(set(ids))
