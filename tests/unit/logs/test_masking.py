"""Masking by shape: what is replaced, what is deliberately left, and tokenisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.logs.masking import PLACEHOLDER, mask, mask_tokens, render


class TestMasked:
    @pytest.mark.parametrize(("text", "expected"), [
        ("at 2024-06-10T12:34:56.123Z ok", "at <*> ok"),
        ("at Sat Jul  9 22:53:19 2005", "at <*>"),
        ("since Jun 14 15:16:01 x", "since <*> x"),
        ("took 12:34:56.789", "took <*>"),
        ("job 123e4567-e89b-12d3-a456-426614174000 done", "job <*> done"),
        ("mac 00:1b:21:3a:4f:5c up", "mac <*> up"),
        ("mlx5_core 0000:5e:00.0 ens1f0: Link down", "mlx5_core <*> ens1f0: Link down"),
        ("NVRM: Xid (PCI:0000:3b:00): 79, pid=2345", "NVRM: Xid (PCI:<*>): <*>, pid=<*>"),
        ("from 173.234.31.186 port 22", "from <*> port <*>"),
        ("peer 10.0.0.2:52142 and net 10.0.0.0/8", "peer <*> and net <*>"),
        ("addr fe80::1ff:fe23:4567:890a and ::1", "addr <*> and <*>"),
        ("rhost=host8.topspot.net x", "rhost=<*> x"),
        ("for customer-187-141.uninet-ide.com.mx [1.2.3.4]", "for <*> [<*>]"),
        ("ptr 67.97.248.50.nw.nuvox.net", "ptr <*>"),
        ("lib biblioteka.wsi.edu.pl", "lib <*>"),
        ("at 0x0b85eee0 mask 0x05", "at <*> mask <*>"),
        ("range 00000000ffb00000 - 0000000100000000", "range <*> - <*>"),
        ("CPU#3 stuck for 22s!", "CPU#<*> stuck for <*>!"),
        ("total-vm:123456kB, 4.5GiB, 100%", "total-vm:<*>, <*>, <*>"),
        ("version v0.100 and 2.6.5-1.358", "version <*> and <*>-<*>"),
        ("generating core.2275", "generating core.<*>"),
        ("blk_-1608999687919862906 rdd_2_1 x86_64", "blk_<*> rdd_<*>_<*> x86_<*>"),
        ("1190 bytes (1.16 KB) sent, lifetime <1 sec", "<*> bytes (<*>) sent, lifetime <*>"),
        ("estimated size 16.0 B, free 2.3 GiB", "estimated size <*>, free <*>"),
        ("delta -5 and +7", "delta <*> and <*>"),
    ])
    def test_values_by_shape(self, text: str, expected: str) -> None:
        """Times, ids, addresses, host names, hex and numbers become placeholders."""
        assert mask(text) == expected

    @pytest.mark.parametrize("text", [
        "Failed password for root from x port y ssh2",
        "ROOT LOGIN ON tty2",
        "mlx5_core ens1f0 eth0 sda1 nvme0n1 i686 ipv6",
        "error: com.jcraft.jsch.JSchException: Auth fail",
        "extracting archive.tar.gz and nvidia.ko",
        "rpc.idmapd kernel.core_uses_pid",
        "cafe facade deadbeef",
    ])
    def test_identifiers_left_alone(self, text: str) -> None:
        """Names that end in digits, class names, file names and hex-looking words stay."""
        assert mask(text) == text


class TestTokens:
    def test_key_value_split_and_glued(self) -> None:
        """'key=value' becomes two tokens; the value is marked glued to its key."""
        tokens, glued = mask_tokens("logname= uid=0 tty=NODEVssh rhost=")
        assert tokens == ["logname=", "uid=", "<*>", "tty=", "NODEVssh", "rhost="]
        assert glued == frozenset({2, 4})
        assert render(tokens, glued) == "logname= uid=<*> tty=NODEVssh rhost="

    def test_empty_value_differs_in_shape(self) -> None:
        """'rhost=' and 'rhost=<*>' have different token counts."""
        assert len(mask_tokens("a rhost=")[0]) != len(mask_tokens("a rhost=1.2.3.4")[0])

    def test_nul_in_input_does_not_confuse_gluing(self) -> None:
        """A NUL byte in the text is treated as a space, not as the glue marker."""
        tokens, glued = mask_tokens("a\x00b k=v")
        assert tokens == ["a", "b", "k=", "v"]
        assert glued == frozenset({3})

    def test_value_tokens_and_asides(self) -> None:
        """Values joined by punctuation are one value; a parenthesised value is left out."""
        assert mask_tokens("host.example.com:5070 close, 0 bytes (0 KB) sent")[0] == [
            "<*>", "close,", "<*>", "bytes", "sent"]
        assert mask_tokens("from /10.0.0.1:2181 () at 12:00:01, ok")[0] == [
            "from", "<*>", "at", "<*>,", "ok"]

    def test_keys_start_their_token(self) -> None:
        """A URL's query is no key=value; a key inside parentheses still is."""
        assert mask_tokens("GET /a?b=c&d=e x")[0] == ["GET", "/a?b=c&d=e", "x"]
        assert mask_tokens("by LOGIN(uid=0)")[0] == ["by", "LOGIN(uid=", "<*>)"]

    @given(st.text(st.characters(codec="utf-8"), max_size=120))
    def test_render_then_tokenise_is_a_fixpoint(self, text: str) -> None:
        """Tokens rendered back and tokenised again give the same tokens: nothing is lost."""
        tokens, glued = mask_tokens(text)
        assert all(t and not any(c.isspace() for c in t) for t in tokens)
        assert mask_tokens(render(tokens, glued)) == (tokens, glued)

    @given(st.text(max_size=120))
    def test_masking_is_idempotent(self, text: str) -> None:
        """Masking masked text changes nothing more."""
        once = mask(text)
        assert mask(once) == once

    def test_placeholder_is_drain_style(self) -> None:
        """Templates use '<*>', the placeholder the loghub tools expect."""
        assert PLACEHOLDER == "<*>"
