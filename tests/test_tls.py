"""Secure connections: the real worker and the real plexapi gateway over real HTTPS to the fake
Plex, with certificates made here (a CA of our own, a server certificate for a plex.direct-style
name, one for another name, an expired one), and a reverse proxy under a path prefix.

Each certificate failure ends with work held (no attempt charged, nothing dead-lettered) and
the same words in the log, in ``status`` and from the health call.
"""

from __future__ import annotations

import datetime as dt
import http.client
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

import shell
from core import Health, PauseCause, PlexSyncConfig
from shell.cli.errors import Exit
from shell.gateway import HealthReport
from shell.plex import PlexServerGateway
from shell.settings import Settings, load_settings
from shell.store import Store
from shell.tls import Certificate, describe, plex_direct_url
from tests.builders import TOKEN, make_config
from tests.certificates import NOW, PLEX_HASH, Authority
from tests.fake_plex import FakePlex
from tests.stops import DrainedOrLate, HeldOrLate

JOBS = 4


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


@pytest.fixture
def plex(authority: Authority) -> Iterator[FakePlex]:
    """A fake Plex speaking TLS with a certificate for 127.0.0.1 from our CA; tests that need
    another certificate present one.
    """
    with FakePlex(TOKEN, tls=authority.issue("127.0.0.1").server_context()) as server:
        server.add_section("Movies", locations=["/media"])
        for n in range(JOBS):
            server.add_item(1, f"/media/m{n}.mkv", title=f"raw {n}")
        yield server


@pytest.fixture
def cli_env() -> dict[str, str]:
    """The environment of a plexsync command: this checkout importable, no stray settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEXSYNC_")}
    return env | {"PYTHONPATH": str(ROOT), "PLEXSYNC_PLEX_TOKEN": TOKEN}


def tls_config(tmp_path: Path, url: str, **overrides: Any) -> PlexSyncConfig:
    """Short waits, so a few probes take a fraction of a second."""
    fields: dict[str, Any] = {
        "plex_url": url,
        "db_path": str(tmp_path / "queue.db"),
        "connect_timeout_seconds": 1,
        "read_timeout_seconds": 1,
        "health_timeout_seconds": 1,
        "poll_interval": 0.05,
        "breaker_cooldown_seconds": 0.1,
        "breaker_max_cooldown_seconds": 0.2,
        "job_lease_seconds": 5,
        **overrides,
    }
    return make_config(**fields)


def enqueue(config: PlexSyncConfig) -> None:
    shell.enqueue_many(
        config, [(f"k{n}", {"path": f"/media/m{n}.mkv", "title": f"T{n}"}) for n in range(JOBS)]
    )


def work(config: PlexSyncConfig, seconds: float) -> shell.WorkerReport:
    """The worker as ``plexsync run`` starts it (its own gateway), for at most *seconds*."""
    return shell.run_worker(config, stop=DrainedOrLate(config.db_path, seconds))


def hold(config: PlexSyncConfig) -> shell.WorkerReport:
    """The worker as ``plexsync run`` starts it, until it holds work for the certificate and has
    probed twice more (or 30 s have passed).
    """
    return shell.run_worker(config, stop=HeldOrLate(config, PauseCause.CERTIFICATE, probes=2))


def held_words(config: PlexSyncConfig) -> str:
    """Queue the jobs, work until held for the certificate; the words ``status`` then shows
    (``assert_held_uncharged`` checked the rest).
    """
    enqueue(config)
    return assert_held_uncharged(config, hold(config))


def held_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "holding all work" in r.getMessage()]


def assert_held_uncharged(config: PlexSyncConfig, report: shell.WorkerReport) -> str:
    """Work is held for the certificate, nothing done or dead-lettered, no attempt charged;
    returns the words ``status`` shows.
    """
    assert (report.held, report.done, report.dead_lettered) == (PauseCause.CERTIFICATE, 0, {})
    assert report.probes >= 2  # it kept probing, and the probes kept the words
    rows = Store.open(config.db_path).jobs.rows()
    assert [(r.state, r.transient_failures) for r in rows] == [("waiting", 0)] * JOBS
    outage = shell.status(config).outage
    assert outage is not None
    assert outage.cause is PauseCause.CERTIFICATE
    return outage.detail


def test_an_unknown_issuer_holds_work_names_the_issuer_and_plex_ca_bundle_fixes_it(
    tmp_path: Path, plex: FakePlex, authority: Authority, caplog: pytest.LogCaptureFixture
) -> None:
    """A certificate from a CA not trusted here is a certificate failure, not an outage: work
    is held uncharged, the words name the issuer and plex_ca_bundle; with the CA trusted, the
    same jobs go through.
    """
    config = tls_config(tmp_path, plex.url)
    enqueue(config)
    with caplog.at_level(logging.INFO, logger="plexsync"):
        report = hold(config)
    detail = assert_held_uncharged(config, report)
    assert detail == (
        "unknown issuer: the certificate is issued by 'plexsync test CA', which is not among "
        "the CAs trusted here; set plex_ca_bundle to that CA's certificate file, or set "
        "plex_verify_certificate = false to skip verification"
    )
    assert held_lines(caplog) == [
        (
            f"Plex at {plex.url} fails certificate verification: {detail}; holding all work, "
            "first probe in 0s"
        )
    ]
    assert PlexServerGateway(config).health_report() == HealthReport(Health.UNTRUSTED, detail)

    trusted = tls_config(tmp_path, plex.url, plex_ca_bundle=str(authority.cert_file))
    report = work(trusted, seconds=10)
    assert (report.done, report.held, report.dead_lettered) == (JOBS, None, {})
    assert plex.item_by_path("/media/m0.mkv").title == "T0"  # type: ignore[union-attr]


def test_a_plex_direct_certificate_reached_by_ip_prints_the_plex_direct_url_that_verifies(
    tmp_path: Path, plex: FakePlex, authority: Authority, caplog: pytest.LogCaptureFixture
) -> None:
    """Plex's certificate is for *.<hash>.plex.direct: reached as https://<ip>, the names do
    not match; the words list the names it carries and the plex.direct URL, which does verify.
    """
    plex.present(authority.issue(f"*.{PLEX_HASH}.plex.direct").server_context())
    config = tls_config(tmp_path, plex.url, plex_ca_bundle=str(authority.cert_file))
    enqueue(config)
    with caplog.at_level(logging.INFO, logger="plexsync"):
        report = hold(config)
    detail = assert_held_uncharged(config, report)
    hint = f"https://127-0-0-1.{PLEX_HASH}.plex.direct:{plex.port}"
    assert detail == (
        f"name mismatch: the certificate is for *.{PLEX_HASH}.plex.direct, not 127.0.0.1; "
        f"set plex_url to {hint}"
    )
    assert held_lines(caplog) == [
        (
            f"Plex at {plex.url} fails certificate verification: {detail}; holding all work, "
            "first probe in 0s"
        )
    ]
    # The hinted name verifies against the certificate Plex presents (DNS would give 127.0.0.1).
    context = ssl.create_default_context(cafile=str(authority.cert_file))
    with (
        socket.create_connection(("127.0.0.1", plex.port), timeout=2) as raw,
        context.wrap_socket(raw, server_hostname=urlsplit(hint).hostname) as secured,
    ):
        assert secured.getpeercert() is not None


def test_an_expired_certificate_holds_work_and_says_when_it_expired(
    tmp_path: Path, plex: FakePlex, authority: Authority
) -> None:
    """An expired certificate holds work with the date it expired and the way out."""
    expired_at = NOW - dt.timedelta(days=3)
    plex.present(
        authority.issue(
            "127.0.0.1", not_before=NOW - dt.timedelta(days=90), not_after=expired_at
        ).server_context()
    )
    detail = held_words(tls_config(tmp_path, plex.url, plex_ca_bundle=str(authority.cert_file)))
    assert detail == (
        f"expired: the certificate expired on {expired_at:%Y-%m-%d %H:%M} UTC; renew it on the "
        "server, or set plex_verify_certificate = false to skip verification"
    )


def test_a_certificate_not_yet_valid_holds_work_and_says_from_when(
    tmp_path: Path, plex: FakePlex, authority: Authority
) -> None:
    """A certificate whose validity begins later (a clock ahead or behind) holds work with the
    date it begins and the clocks to check.
    """
    begins = NOW + dt.timedelta(days=2)
    plex.present(
        authority.issue(
            "127.0.0.1", not_before=begins, not_after=NOW + dt.timedelta(days=60)
        ).server_context()
    )
    detail = held_words(tls_config(tmp_path, plex.url, plex_ca_bundle=str(authority.cert_file)))
    assert detail == (
        f"not yet valid: the certificate is not valid until {begins:%Y-%m-%d %H:%M} UTC; check "
        "the clocks, or set plex_verify_certificate = false to skip verification"
    )


def test_a_ca_bundle_without_the_issuer_is_named_in_the_words(
    tmp_path: Path, plex: FakePlex
) -> None:
    """With plex_ca_bundle naming another CA's file, the words say the issuer is not in it."""
    other = Authority(tmp_path, name="another CA")
    detail = held_words(tls_config(tmp_path, plex.url, plex_ca_bundle=str(other.cert_file)))
    assert detail == (
        "unknown issuer: the certificate is issued by 'plexsync test CA', which is not in "
        f"plex_ca_bundle ({other.cert_file}); set plex_ca_bundle to that CA's certificate file, "
        "or set plex_verify_certificate = false to skip verification"
    )


def test_a_self_signed_proxy_certificate_says_to_trust_that_certificate(
    tmp_path: Path, plex: FakePlex
) -> None:
    """A certificate that signs itself (a proxy's own) is named as self-signed."""
    own = Authority(tmp_path, name="127.0.0.1")  # a CA certificate for the address itself
    plex.present(own.as_server().server_context())
    detail = held_words(tls_config(tmp_path, plex.url))
    assert detail.startswith(
        "unknown issuer: the certificate (127.0.0.1) is self-signed, which is not among the CAs "
        "trusted here; set plex_ca_bundle to a file holding it"
    )


def test_a_certificate_that_goes_bad_during_an_outage_changes_the_cause_with_the_probe(
    tmp_path: Path, plex: FakePlex, authority: Authority
) -> None:
    """Plex goes down and comes back with a certificate for another name: the health probe
    itself reports the certificate, in the same precise words, not "down" or "not Plex".
    """
    config = tls_config(tmp_path, plex.url, plex_ca_bundle=str(authority.cert_file))
    enqueue(config)
    plex.go_down()
    report = shell.run_worker(config, stop=HeldOrLate(config, PauseCause.OUTAGE, probes=1))
    assert report.held is PauseCause.OUTAGE
    plex.present(authority.issue("plex.example").server_context())
    detail = assert_held_uncharged(config, hold(config))
    assert detail == (
        "name mismatch: the certificate is for plex.example, not 127.0.0.1; set plex_url to a "
        "URL with one of those names"
    )
    assert shell.status(config).outage.probes >= 3  # type: ignore[union-attr]


def test_a_certificate_without_alternative_names_is_named_by_its_subject(
    tmp_path: Path, plex: FakePlex, authority: Authority
) -> None:
    """A certificate that carries its name only as its subject (no alternative names) is named
    by that subject in the words.
    """
    plex.present(authority.issue(common_name="plex.example").server_context())
    detail = held_words(tls_config(tmp_path, plex.url, plex_ca_bundle=str(authority.cert_file)))
    assert detail == (
        "name mismatch: the certificate is for plex.example, not 127.0.0.1; set plex_url to a "
        "URL with one of those names"
    )


def test_a_certificate_for_another_purpose_is_refused_in_openssl_words(
    tmp_path: Path, plex: FakePlex, authority: Authority
) -> None:
    """A failure plexsync has no words of its own for (a certificate for clients, not servers)
    still holds work as a certificate failure, in OpenSSL's words, with the ways out.
    """
    plex.present(
        authority.issue("127.0.0.1", purpose=ExtendedKeyUsageOID.CLIENT_AUTH).server_context()
    )
    detail = held_words(tls_config(tmp_path, plex.url, plex_ca_bundle=str(authority.cert_file)))
    reason = handshake_failure(plex, authority).verify_message  # "unsuitable ...", OpenSSL 3
    assert "purpose" in reason
    assert detail == (
        f"certificate refused: {reason}; have the server (or its proxy) present a certificate "
        "that verifies, set plex_ca_bundle to the CA that issued it, or set "
        "plex_verify_certificate = false to skip verification"
    )


def test_a_name_mismatch_whose_certificate_cannot_be_read_again_says_what_openssl_says(
    tmp_path: Path, plex: FakePlex, authority: Authority
) -> None:
    """When the second, unverified handshake gets no certificate (the server went away in
    between), the words are OpenSSL's reason and the setting to change.
    """
    plex.present(authority.issue("plex.example").server_context())
    failure = handshake_failure(plex, authority)
    assert failure.verify_message.endswith(".")
    config = tls_config(tmp_path, plex.url)
    assert describe(failure, None, config) == (
        f"name mismatch: {failure.verify_message[:-1]}; set plex_url to a name the certificate "
        "carries"
    )


def handshake_failure(plex: FakePlex, authority: Authority) -> ssl.SSLCertVerificationError:
    """The verification failure of a handshake with *plex* that trusts *authority*."""
    context = ssl.create_default_context(cafile=str(authority.cert_file))
    with (
        socket.create_connection(("127.0.0.1", plex.port), timeout=2) as raw,
        pytest.raises(ssl.SSLCertVerificationError) as failed,
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    return failed.value


def test_skipping_verification_works_and_warns_at_every_start(
    tmp_path: Path, plex: FakePlex, authority: Authority, caplog: pytest.LogCaptureFixture
) -> None:
    """plex_verify_certificate = false lets a certificate that does not verify through, and
    every start says so (urllib3's per-request warning is not repeated).
    """
    plex.present(authority.issue("plex.example").server_context())
    config = tls_config(tmp_path, plex.url, plex_verify_certificate=False)
    enqueue(config)
    with caplog.at_level(logging.INFO, logger="plexsync"):
        first = work(config, seconds=10)
        enqueue(config)
        second = work(config, seconds=10)
    assert (first.done, second.done, first.held, second.held) == (JOBS, JOBS, None, None)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        warnings
        == [
            (
                f"Plex at {plex.url}: certificate verification is off (plex_verify_certificate = "
                "false): the connection is encrypted, but anyone on the way can pose as Plex and "
                "receive the token; trust the certificate with plex_ca_bundle instead"
            )
        ]
        * 2
    )


def test_plex_ca_bundle_wins_over_requests_ca_bundle_in_the_environment(
    tmp_path: Path, plex: FakePlex, authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQUESTS_CA_BUNDLE in the environment does not override the CA bundle plexsync is told
    to trust (requests would otherwise prefer the variable).
    """
    other = Authority(tmp_path, name="someone else's CA")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.cert_file))
    config = tls_config(tmp_path, plex.url, plex_ca_bundle=str(authority.cert_file))
    gateway = PlexServerGateway(config)
    try:
        assert gateway.health_report() == HealthReport(Health.UP)
    finally:
        gateway.close()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file: {path}"),
        (b"not a certificate\n", "{path} holds no PEM certificate"),
        ("folder", "{path} is a folder; name the PEM file of the CA certificates"),
        ("under a file", "cannot read {path}: Not a directory"),
    ],
    ids=["missing", "garbage", "folder", "under-a-file"],
)
def test_a_ca_bundle_that_cannot_be_read_stops_the_start_naming_the_setting(
    tmp_path: Path, content: bytes | str | None, problem: str
) -> None:
    """plex_ca_bundle is checked when the settings are read, and when a host builds the
    gateway: one line naming the setting and the file.
    """
    path = tmp_path / "ca.pem"
    if content == "folder":
        path.mkdir()
    elif content == "under a file":
        (tmp_path / "certs").write_bytes(b"")
        path = tmp_path / "certs" / "ca.pem"
    elif isinstance(content, bytes):
        path.write_bytes(content)
    environ = {
        "PLEXSYNC_PLEX_URL": "https://plex.example:32400",
        "PLEXSYNC_PLEX_TOKEN": TOKEN,
        "PLEXSYNC_PLEX_CA_BUNDLE": str(path),
    }
    loaded = load_settings(None, environ, directory=str(tmp_path))
    expected = f"plex_ca_bundle: {problem.format(path=path)}"
    assert loaded.failure() == f"PLEXSYNC_PLEX_CA_BUNDLE: {expected}"
    with pytest.raises(ValueError, match=f"^{expected}$"):
        PlexServerGateway(make_config(plex_ca_bundle=str(path)))


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("FALSE", False), ("1", True), ("0", False)]
)
def test_the_verify_switch_reads_true_false_1_0_from_a_variable(
    tmp_path: Path, text: str, value: bool
) -> None:
    """PLEXSYNC_PLEX_VERIFY_CERTIFICATE is read as a switch; anything else is refused by name."""
    environ = {"PLEXSYNC_PLEX_URL": "https://p", "PLEXSYNC_PLEX_TOKEN": TOKEN}
    loaded = load_settings(
        None, {**environ, "PLEXSYNC_PLEX_VERIFY_CERTIFICATE": text}, directory=str(tmp_path)
    )
    assert isinstance(loaded.unwrap(), Settings)
    assert loaded.unwrap().config.plex_verify_certificate is value
    refused = load_settings(
        None, {**environ, "PLEXSYNC_PLEX_VERIFY_CERTIFICATE": "sometimes"}, directory=str(tmp_path)
    )
    assert refused.failure() == (
        "PLEXSYNC_PLEX_VERIFY_CERTIFICATE: plex_verify_certificate must be true or false "
        "(or 1 or 0), got 'sometimes'"
    )


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://93.184.215.14:32400", True),
        ("http://[2606:4700::1111]:32400", True),
        ("http://192.168.1.10:32400", False),
        ("http://10.0.0.5:32400", False),
        ("http://100.101.102.103:32400", False),  # a Tailscale address
        ("http://127.0.0.1:32400", False),
        ("http://localhost:32400", False),
        ("https://93.184.215.14:32400", False),
    ],
)
def test_the_token_over_plain_http_to_a_public_host_is_warned_about_once(
    url: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Plain http to a host that is neither loopback nor private: one warning at start."""
    with caplog.at_level(logging.WARNING, logger="plexsync"):
        PlexServerGateway(make_config(plex_url=url)).close()
    lines = [r.getMessage() for r in caplog.records]
    expected = (
        f"Plex at {url}: the token would travel unencrypted (plain http) to a host that is "
        "neither this machine nor on a private network; use an https:// plex_url"
    )
    assert lines == ([expected] if warned else [])


def _plex_certificate(*names: str) -> Certificate:
    return Certificate(subject=None, issuer=None, names=names, not_before=None, not_after=None)


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        (
            "https://192.168.1.10:32400",
            f"https://192-168-1-10.{PLEX_HASH}.plex.direct:32400",
        ),
        (
            "https://[2001:db8::1]:32400/",
            f"https://2001-0db8-0000-0000-0000-0000-0000-0001.{PLEX_HASH}.plex.direct:32400",
        ),
        (
            "https://plex.lan:32400",
            (
                f"https://<the server's IP address, with dashes for dots>.{PLEX_HASH}.plex.direct"
                ":32400"
            ),
        ),
        ("https://10.0.0.2/plex", f"https://10-0-0-2.{PLEX_HASH}.plex.direct/plex"),
    ],
)
def test_the_plex_direct_url_is_the_address_with_dashes_under_the_certificate_hash(
    url: str, hint: str
) -> None:
    """IPv4 dots become dashes; IPv6 is written out in full with dashes for colons; port and
    path are kept; the hash comes from the certificate (upper case read as lower).
    """
    certificate = _plex_certificate("plex.example", f"*.{PLEX_HASH.upper()}.plex.direct")
    assert plex_direct_url(url, certificate) == hint
    assert plex_direct_url(url, _plex_certificate("*.plex.example")) is None


# ---------------------------------------------------------------------------- reverse proxy
class _PrefixProxy(BaseHTTPRequestHandler):
    """A reverse proxy serving Plex under ``/plex``, over TLS with its own CA: the prefix is
    stripped, the request passed on, and anything outside the prefix is the proxy's own 404.
    """

    protocol_version = "HTTP/1.1"
    upstream_port = 0
    seen: list[str]

    def log_message(self, fmt: str, *args: object) -> None:
        """Quiet."""

    def relay(self) -> None:
        self.seen.append(f"{self.command} {self.path.split('?')[0]}")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not (self.path == "/plex" or self.path.startswith(("/plex/", "/plex?"))):
            page = b"<html><body>404 from the proxy</body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=5)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        upstream.request(self.command, self.path[len("/plex") :] or "/", body, headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = relay  # noqa: N815


def test_a_path_prefix_behind_a_tls_reverse_proxy_works_for_every_call(
    tmp_path: Path, authority: Authority
) -> None:
    """https://proxy/plex with the proxy's own CA trusted: the connect, the index, the scan of
    a file Plex has not seen yet, the rating, the edit and the health check all go under the
    prefix, and the jobs are done.
    """
    seen: list[str] = []
    with FakePlex(TOKEN) as upstream:
        upstream.add_section("Movies", locations=["/media"])
        upstream.add_item(1, "/media/known.mkv", title="raw")
        upstream.add_item(1, "/media/new/late.mkv", title="raw", scanned=False)
        handler = type("Proxy", (_PrefixProxy,), {"upstream_port": upstream.port, "seen": seen})
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = authority.issue("127.0.0.1").server_context()
        proxy.socket = context.wrap_socket(proxy.socket, server_side=True)
        serving = threading.Thread(target=proxy.serve_forever, daemon=True)
        serving.start()
        try:
            url = f"https://127.0.0.1:{proxy.server_address[1]}/plex/"
            config = tls_config(
                tmp_path,
                url,
                plex_ca_bundle=str(authority.cert_file),
                not_found_wait_initial_seconds=0.1,
                not_found_wait_max_seconds=0.2,
            )
            shell.enqueue_many(
                config,
                [
                    ("a", {"path": "/media/known.mkv", "title": "A", "user_rating": 8.0}),
                    ("b", {"path": "/media/new/late.mkv", "title": "B"}),
                ],
            )
            report = work(config, seconds=15)
            gateway = PlexServerGateway(config)
            try:
                assert gateway.health() is Health.UP
            finally:
                gateway.close()
        finally:
            proxy.shutdown()
            proxy.server_close()
        assert (report.done, report.dead_lettered, report.held) == (2, {}, None)
        assert upstream.item_by_path("/media/new/late.mkv").title == "B"  # type: ignore[union-attr]
        assert upstream.requests_to("/library/sections/1/refresh")  # the scan went through
        assert upstream.requests_to("/:/rate", "PUT")
        assert len(upstream.requests_to("/library/sections/1/all", "PUT")) == 2
    assert seen
    assert all(line.split(" ", 1)[1].startswith("/plex") for line in seen), seen
    assert "GET /plex/" in seen  # the health check, under the prefix too


def test_check_says_that_the_certificate_does_not_verify(
    tmp_path: Path, plex: FakePlex, cli_env: dict[str, str]
) -> None:
    """`plexsync check` names the certificate failure in the worker's words and exits with the
    misconfigured status.
    """
    result = subprocess.run(
        [sys.executable, "-m", "shell.cli", "check"],
        env=cli_env | {"PLEXSYNC_PLEX_URL": plex.url, "PLEXSYNC_DB_PATH": str(tmp_path / "q.db")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == Exit.MISCONFIGURED, result.stdout + result.stderr
    assert (
        f"Plex at {plex.url} fails certificate verification: unknown issuer: the certificate is "
        "issued by 'plexsync test CA'"
    ) in result.stdout
