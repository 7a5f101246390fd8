"""Secure connections to Plex: what the session verifies, what a certificate that does not verify
is called in plain words, and the warnings a start owes the user.

* ``verify_setting``: what ``requests`` is told to verify against (``plex_ca_bundle``, the usual
  CAs, or nothing when ``plex_verify_certificate = false``), and ``ca_bundle_problem``, the
  check at start that the bundle can be read.
* ``certificate_problem``: when a call failed because the certificate did not verify, the words
  that say what failed and which setting fixes it. OpenSSL's verification error says *what*
  failed; the certificate itself, read in a second handshake that verifies nothing and sends
  nothing, says which names it carries, who issued it and until when it was valid. For an IP
  address in ``plex_url`` and a Plex certificate (``*.<hash>.plex.direct``) the words carry the
  ``plex.direct`` URL that verifies: the address with dashes for dots (an IPv6 address written
  out in full, dashes for colons), then the certificate's hash part.
* ``warn_at_start``: a warning each time a gateway starts with verification off, and one when the
  token would travel over plain http to a host that is neither this machine nor on a private
  network.

Reading the certificate needs only a few fields of its DER encoding, so a small reader here does
it (``read_certificate``) rather than a dependency: what it reads only ever feeds a message.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import ssl
import warnings
from collections.abc import Iterator
from typing import Final
from urllib.parse import urlsplit

from attrs import frozen

from core import PlexSyncConfig
from shell.redact import get_logger, redact, url_for_people

log = get_logger("plexsync.plex")

PLEX_DIRECT: Final = re.compile(r"^\*\.([0-9a-f]{32})\.plex\.direct$", re.IGNORECASE)
"""The name Plex's own certificates are issued for: a wildcard under the server's hash."""

_SHARED_ADDRESS_SPACE: Final = ipaddress.ip_network("100.64.0.0/10")
"""Carrier-grade NAT and overlay networks (Tailscale): private in practice, not by Python's list."""


# ---------------------------------------------------------------------------- settings
def verify_setting(config: PlexSyncConfig) -> bool | str:
    """What ``requests`` verifies Plex's certificate against: the CA bundle file, the usual CAs
    (``True``), or nothing (``False``).
    """
    if not config.plex_verify_certificate:
        return False
    return config.plex_ca_bundle if config.plex_ca_bundle is not None else True


def ca_bundle_problem(path: str | None) -> str | None:
    """Why the CA bundle at *path* cannot be used (one line naming the setting), or ``None``."""
    if path is None:
        return None
    try:
        ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        return f"plex_ca_bundle: no such file: {path}"
    except IsADirectoryError:
        return f"plex_ca_bundle: {path} is a folder; name the PEM file of the CA certificates"
    except OSError as exc:
        if isinstance(exc, ssl.SSLError):
            return f"plex_ca_bundle: {path} holds no PEM certificate"
        return f"plex_ca_bundle: cannot read {path}: {exc.strerror or exc}"
    return None


# ---------------------------------------------------------------------------- start
def warn_at_start(config: PlexSyncConfig) -> None:
    """Log what a start must say about the connection: verification off (every start), or the
    token about to travel unencrypted to a host that is not local or private.
    """
    url = urlsplit(config.plex_url)
    shown = url_for_people(config.plex_url)
    if url.scheme == "https" and not config.plex_verify_certificate:
        log.warning(
            "Plex at %s: certificate verification is off (plex_verify_certificate = false): the "
            "connection is encrypted, but anyone on the way can pose as Plex and receive the "
            "token; trust the certificate with plex_ca_bundle instead",
            shown,
        )
        from urllib3.exceptions import InsecureRequestWarning  # noqa: PLC0415 - not on a hook's path

        host = url.hostname or ""
        # urllib3 would warn on every request; this start's warning says it once.
        warnings.filterwarnings(
            "ignore",
            message=f"Unverified HTTPS request is being made to host '{re.escape(host)}'",
            category=InsecureRequestWarning,
        )
    if url.scheme == "http" and url.hostname and not _local_or_private(url.hostname):
        log.warning(
            "Plex at %s: the token would travel unencrypted (plain http) to a host that is "
            "neither this machine nor on a private network; use an https:// plex_url",
            shown,
        )


def _local_or_private(host: str) -> bool:
    """Whether *host* is this machine or on a private network (every address it resolves to).
    A name that does not resolve is given the benefit of the doubt: nothing reaches it anyway.
    """
    if host.lower() == "localhost":
        return True
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return True
        addresses = [ipaddress.ip_address(str(entry[4][0]).split("%")[0]) for entry in found]
    return all(
        a.is_loopback or a.is_private or a.is_link_local or a in _SHARED_ADDRESS_SPACE
        for a in addresses
        if isinstance(a, ipaddress.IPv6Address) or a.version == 4
    )


# ---------------------------------------------------------------------------- the failure
@frozen
class Certificate:
    """What a certificate says about itself, as far as a message needs it."""

    subject: str | None
    issuer: str | None
    names: tuple[str, ...]
    """Its subject alternative names: DNS names (wildcards included) and IP addresses."""
    not_before: dt.datetime | None
    not_after: dt.datetime | None


_HOST_MISMATCH: Final = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_EXPIRED: Final = 10  # X509_V_ERR_CERT_HAS_EXPIRED
_NOT_YET_VALID: Final = 9  # X509_V_ERR_CERT_NOT_YET_VALID
_SELF_SIGNED: Final = 18  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
_UNKNOWN_ISSUER: Final = {2, 19, 20, 21}
"""Unable to get the issuer's certificate (locally), a self-signed root in the chain, unable to
verify the leaf's signature: the chain ends in no CA trusted here."""


def verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind *exc* (requests wraps urllib3, which wraps
    the ``ssl`` module's), or ``None`` if *exc* is not one.
    """
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
    return None


def certificate_problem(exc: BaseException, config: PlexSyncConfig) -> str | None:
    """What failed and which setting fixes it, when *exc* is a certificate that did not verify;
    ``None`` for any other failure. Reads the certificate with a second, unverified handshake
    (within ``health_timeout_seconds``); without it, OpenSSL's words have to do.
    """
    error = verification_error(exc)
    if error is None:
        return None
    certificate = fetch_certificate(config.plex_url, timeout=config.health_timeout_seconds)
    return redact(describe(error, certificate, config), limit=None)


def describe(  # noqa: PLR0911 - one message per kind of failure
    error: ssl.SSLCertVerificationError, certificate: Certificate | None, config: PlexSyncConfig
) -> str:
    """The words for *error*, with what *certificate* (if it could be read) says about itself."""
    code = getattr(error, "verify_code", None)
    reason = str(getattr(error, "verify_message", "") or error.reason or error).rstrip(". ")
    host = urlsplit(config.plex_url).hostname or ""
    skip = "or set plex_verify_certificate = false to skip verification"
    trusted_by = (
        f"which is not in plex_ca_bundle ({config.plex_ca_bundle})"
        if config.plex_ca_bundle is not None
        else "which is not among the CAs trusted here"
    )
    if code in _HOST_MISMATCH:
        if certificate is None or not _names(certificate):
            return f"name mismatch: {reason}; set plex_url to a name the certificate carries"
        carried = ", ".join(_names(certificate)[:6])
        hint = plex_direct_url(config.plex_url, certificate)
        fix = (
            f"set plex_url to {hint}"
            if hint is not None
            else "set plex_url to a URL with one of those names"
        )
        return f"name mismatch: the certificate is for {carried}, not {host}; {fix}"
    if code == _EXPIRED:
        when = _day(certificate.not_after) if certificate is not None else None
        since = f" on {when}" if when else ""
        return f"expired: the certificate expired{since}; renew it on the server, {skip}"
    if code == _NOT_YET_VALID:
        when = _day(certificate.not_before) if certificate is not None else None
        since = f" until {when}" if when else " yet"
        return f"not yet valid: the certificate is not valid{since}; check the clocks, {skip}"
    if code == _SELF_SIGNED:
        name = f" ({certificate.subject})" if certificate and certificate.subject else ""
        return (
            f"unknown issuer: the certificate{name} is self-signed, {trusted_by}; "
            f"set plex_ca_bundle to a file holding it, {skip}"
        )
    if code in _UNKNOWN_ISSUER:
        issuer = f" by {certificate.issuer!r}" if certificate and certificate.issuer else ""
        return (
            f"unknown issuer: the certificate is issued{issuer}, {trusted_by}; "
            f"set plex_ca_bundle to that CA's certificate file, {skip}"
        )
    return (
        f"certificate refused: {reason}; have the server (or its proxy) present a certificate "
        f"that verifies, set plex_ca_bundle to the CA that issued it, {skip}"
    )


def plex_direct_url(plex_url: str, certificate: Certificate) -> str | None:
    """The ``plex.direct`` URL that verifies against a Plex certificate (``*.<hash>.plex.direct``)
    when *plex_url* names the server by IP address: ``https://<address>.<hash>.plex.direct`` with
    the port and path of *plex_url*, the address written with dashes (IPv4 ``192-168-1-10``; IPv6
    in full, ``2001-0db8-0000-...``). For a host name, the same with a placeholder for the address.
    ``None`` if the certificate is not Plex's.
    """
    hashes = [m.group(1).lower() for m in map(PLEX_DIRECT.match, certificate.names) if m]
    if not hashes:
        return None
    parts = urlsplit(plex_url)
    host = parts.hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        label = "<the server's IP address, with dashes for dots>"
    else:
        written = address.exploded if address.version == 6 else str(address)
        label = written.replace(".", "-").replace(":", "-")
    port = f":{parts.port}" if parts.port else ""
    return f"https://{label}.{hashes[0]}.plex.direct{port}{parts.path.rstrip('/')}"


def fetch_certificate(plex_url: str, *, timeout: float) -> Certificate | None:
    """The certificate the server at *plex_url* presents, read in a handshake that verifies
    nothing (and sends nothing after it); ``None`` if it cannot be had.
    """
    parts = urlsplit(plex_url)
    host = parts.hostname
    if host is None:
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, parts.port or 443), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as secured,
        ):
            der = secured.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    return read_certificate(der) if der else None


def _names(certificate: Certificate) -> tuple[str, ...]:
    if certificate.names:
        return certificate.names
    return (certificate.subject,) if certificate.subject else ()


def _day(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        yield current
        following = current.__cause__ or current.__context__
        if following is None and current.args and isinstance(current.args[0], BaseException):
            following = current.args[0]  # urllib3's MaxRetryError keeps its reason in args
        current = following


# ---------------------------------------------------------------------------- DER
_SEQUENCE, _SET, _OID, _OCTETS = 0x30, 0x31, 0x06, 0x04
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_VERSION, _EXTENSIONS = 0xA0, 0xA3
_DNS_NAME, _IP_ADDRESS = 0x82, 0x87
_COMMON_NAME: Final = bytes([0x55, 0x04, 0x03])  # 2.5.4.3
_SUBJECT_ALT_NAME: Final = bytes([0x55, 0x1D, 0x11])  # 2.5.29.17


class _MalformedError(ValueError):
    """The bytes are not the DER certificate they should be."""


def read_certificate(der: bytes) -> Certificate | None:
    """The subject, issuer, names and validity of the DER certificate *der*; ``None`` if it
    cannot be read (the message then does without).
    """
    try:
        [(outer_tag, certificate)] = _items(der)
        tag, tbs = _items(certificate)[0]
        if (outer_tag, tag) != (_SEQUENCE, _SEQUENCE):
            raise _MalformedError("not a certificate")
        fields = _items(tbs)
        if fields[0][0] == _VERSION:
            fields = fields[1:]
        issuer, validity, subject = (body for _, body in fields[2:5])
        not_before, not_after = (_time(tag, body) for tag, body in _items(validity))
        extensions = next((body for tag, body in fields if tag == _EXTENSIONS), None)
        return Certificate(
            subject=_common_name(subject),
            issuer=_common_name(issuer),
            names=_alternative_names(extensions) if extensions is not None else (),
            not_before=not_before,
            not_after=not_after,
        )
    except (ValueError, IndexError, StopIteration):  # _MalformedError is a ValueError
        return None


def _items(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) of each element encoded one after another in *data*."""
    found = []
    position = 0
    while position < len(data):
        tag = data[position]
        length = data[position + 1]
        position += 2
        if length & 0x80:
            size = length & 0x7F
            if not 0 < size <= 4:
                raise _MalformedError("length")
            length = int.from_bytes(data[position : position + size], "big")
            position += size
        end = position + length
        if end > len(data):
            raise _MalformedError("truncated")
        found.append((tag, data[position:end]))
        position = end
    return found


def _common_name(name: bytes) -> str | None:
    for tag, relative in _items(name):
        if tag != _SET:
            continue
        for _, attribute in _items(relative):
            (oid_tag, oid), (_, value) = _items(attribute)[:2]
            if oid_tag == _OID and oid == _COMMON_NAME:
                return value.decode("utf-8", "replace")
    return None


def _time(tag: int, body: bytes) -> dt.datetime:
    text = body.decode("ascii")
    if tag == _UTC_TIME:
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise _MalformedError("time")
    return dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)


def _alternative_names(extensions: bytes) -> tuple[str, ...]:
    [(_, listed)] = _items(extensions)
    for _, extension in _items(listed):
        parts = _items(extension)
        if parts[0] != (_OID, _SUBJECT_ALT_NAME):
            continue
        value = next(body for tag, body in parts[1:] if tag == _OCTETS)
        [(_, general_names)] = _items(value)
        names = []
        for tag, body in _items(general_names):
            if tag == _DNS_NAME:
                names.append(body.decode("ascii", "replace"))
            elif tag == _IP_ADDRESS and len(body) in {4, 16}:
                names.append(str(ipaddress.ip_address(body)))
        return tuple(names)
    return ()
