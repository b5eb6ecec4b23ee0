"""Store DSNs: a typo is an error naming the value, never a connection to localhost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.dsn import Dsn, DsnError, mask_dsn, parse_dsn
from sinks.connection import Connection


class TestParse:
    """What a DSN says, read strictly."""

    def test_embedded_and_server_forms(self) -> None:
        """chdb paths, and http(s) with user, password, port and options."""
        assert parse_dsn("chdb:///var/lib/rw/clickhouse") == Dsn("chdb",
                                                                 path="/var/lib/rw/clickhouse")
        d = parse_dsn("https://ops:p%40ss@ch.example:8443/?compress=lz4")
        assert (d.scheme, d.host, d.port, d.user, d.password) == (
            "https", "ch.example", 8443, "ops", "p@ss")
        assert d.options == {"compress": "lz4"} and d.secure and not d.embedded
        assert parse_dsn("http://ch").port is None

    @pytest.mark.parametrize(("dsn", "fragment"), [
        ("htp://ch:8123", "unknown scheme 'htp'"),
        ("ch:8123", "has no scheme"),
        ("localhost", "has no scheme"),
        ("http://:8123", "names no host"),
        ("http://ch:port", "bad port"),
        ("http://[::1", "Invalid IPv6"),
        ("http://ch:8123/rackwatch", "is not read"),
        ("http://ch:8123/?max_threads=4", "unknown option 'max_threads'"),
        ("chdb://u:pw@dir", "with no user, password or options"),
        ("chdb://", "with no user, password or options"),
    ])
    def test_mistakes_are_errors_that_name_the_value(self, dsn: str, fragment: str) -> None:
        """Each mistake the client would have read as "localhost" is refused, named."""
        with pytest.raises(DsnError, match=fragment) as e:
            parse_dsn(dsn)
        assert mask_dsn(dsn) in str(e.value)

    def test_the_password_is_never_in_the_error(self) -> None:
        """An error about a DSN shows it masked."""
        with pytest.raises(DsnError) as e:
            parse_dsn("http://ops:Hunter2-x@ch:8123/?nope=1")
        assert "Hunter2-x" not in str(e.value) and "ops:***@ch" in str(e.value)
        assert "Hunter2-x" not in repr(parse_dsn("http://ops:Hunter2-x@ch:8123"))

    @given(st.one_of(st.text(max_size=60), st.builds(
        lambda s, rest: f"{s}://{rest}", st.sampled_from(["http", "https", "chdb", "htp"]),
        st.text(alphabet="ab:@/?=&[]%.1", max_size=30))))
    def test_anything_parses_or_is_a_dsn_error(self, text: str) -> None:
        """No input makes the parser fail any other way, and a server DSN has a host."""
        try:
            d = parse_dsn(text)
        except DsnError:
            return
        assert d.embedded or d.host

    @given(st.from_regex(r"[a-z]{1,8}", fullmatch=True),
           st.from_regex(r"[A-Za-z0-9!$%^*()_+-]{1,16}", fullmatch=True))
    def test_masking_hides_any_password(self, user: str, password: str) -> None:
        """Whatever the password, the masked DSN (and a message holding it) hides it."""
        dsn = f"https://{user}:{password}@ch.example:8443"
        assert mask_dsn(dsn) == f"https://{user}:***@ch.example:8443"
        assert mask_dsn(f"failed on {dsn}: refused").startswith(f"failed on https://{user}:***@")


class TestConnection:
    """The client arguments: the configuration's credentials win over the DSN's."""

    def test_configured_credentials_win(self) -> None:
        """user/password/ca/verify from the config; the DSN's used when none is set."""
        c = Connection("https://dsnuser:dsnpw@ch:8443/?compress=lz4", user="ops",
                       password="cfgpw", ca_file="/etc/ca.pem", verify=False)
        kw = c.server_kwargs()
        assert (kw["username"], kw["password"], kw["host"], kw["port"]) == (
            "ops", "cfgpw", "ch", 8443)
        assert kw["ca_cert"] == "/etc/ca.pem" and kw["verify"] is False
        assert kw["interface"] == "https" and kw["secure"] and kw["compress"] == "lz4"
        assert Connection("http://a:b@ch").server_kwargs()["username"] == "a"
        assert "cfgpw" not in repr(c) and c.shown == "https://dsnuser:***@ch:8443/?compress=lz4"
