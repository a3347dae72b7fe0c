"""Posting to a webhook URL without becoming a tool for reaching the portal's own network.

- http and https only, no user:password in the URL;
- the host is resolved once; every address it resolves to must be allowed, and the
  connection goes to that checked address (TLS still verifies the host name), so a
  second DNS answer cannot swap in an internal address;
- never allowed: link-local (169.254.0.0/16 holds the cloud metadata service, fe80::/10),
  metadata addresses, unspecified, multicast and reserved ranges; loopback only with
  ``WEBHOOK_ALLOW_LOOPBACK``; private and other non-global ranges only with
  ``WEBHOOK_ALLOW_PRIVATE_NETWORKS``;
- redirects are not followed (a 3xx is a failed attempt that names where it pointed);
- ``WEBHOOK_TIMEOUT_SECONDS`` for connecting and for each read, and an overall deadline
  for reading the answer, of which at most 64 KiB is read.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_READ_BYTES = 64 * 1024
USER_AGENT = "ReleasePortal-Webhooks/1"
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be called; the message says why."""


@dataclass
class Answer:
    status: int | None = None
    body: bytes = b""
    error: str = ""
    seconds: float = 0.0
    location: str = ""


def refusal_for(ip: IPAddress) -> str | None:
    """Why the portal will not connect to ``ip``, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    if ip.is_link_local:
        return f"{ip} is link-local (where cloud metadata services live)"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return f"{ip} is not a routable unicast address"
    if ip.is_loopback:
        if settings.WEBHOOK_ALLOW_LOOPBACK:
            return None
        return f"{ip} is the portal's own machine (loopback); set WEBHOOK_ALLOW_LOOPBACK=1 to allow"
    if not ip.is_global and not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return (
            f"{ip} is a private or internal address; set WEBHOOK_ALLOW_PRIVATE_NETWORKS=1 "
            "to allow receivers on private networks"
        )
    return None


def check_url(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL the portal may post to, else Refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused("use an http:// or https:// URL")
    if not parts.hostname:
        raise Refused("the URL has no host")
    if parts.username or parts.password:
        raise Refused("put no user name or password in the URL: the signature authenticates")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("the URL's port is not a number between 1 and 65535") from None
    return parts.scheme, parts.hostname, port


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to; Refused if any of them is not allowed."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        found: list[IPAddress] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise Refused(f"could not resolve {host}: {e.strerror}") from None
        found = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
    for address in found:
        reason = refusal_for(address)
        if reason:
            raise Refused(f"{host} resolves to {reason}")
    return found


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` once. Refused when the URL is not allowed; otherwise an Answer that
    holds the status and the start of the body, or the error."""
    scheme, host, port = check_url(url)
    addresses = resolve(host, port)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    connection = cls(host, port, str(addresses[0]), timeout)
    started = time.monotonic()
    answer = Answer()
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **headers,
            },
        )
        response = connection.getresponse()
        answer.status = response.status
        answer.location = response.getheader("Location", "") or ""
        answer.body = _read_bounded(response, deadline=started + 2 * timeout)
    except (OSError, http.client.HTTPException) as e:
        answer.error = _describe(e, timeout)
    finally:
        connection.close()
        answer.seconds = time.monotonic() - started
    return answer


def _read_bounded(response: http.client.HTTPResponse, *, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < MAX_READ_BYTES and time.monotonic() < deadline:
        chunk = response.read1(min(8192, MAX_READ_BYTES - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    text = str(error).strip() or type(error).__name__
    return text[:300]
