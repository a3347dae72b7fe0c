"""Posting to a URL someone typed into the portal without becoming a tool for reaching the
portal's own network: the one guard for webhooks and the incidents' maintenance webhook.

- http and https only, no user:password in the URL, no port 0;
- the host is resolved once; every address it resolves to must be allowed, and the
  connection goes to a checked address (TLS still verifies the host name), so a second
  DNS answer cannot swap in an internal address;
- allowed: globally routable unicast addresses (``ipaddress``'s ``is_global``), never
  multicast, never cloud metadata and platform service addresses (169.254.169.254,
  168.63.129.16, 100.100.100.200, fd00:ec2::254), never an IPv4 address wrapped in IPv6
  (IPv4-mapped, IPv4-compatible, 6to4) and NAT64 only around an allowed IPv4 address;
  loopback (127.0.0.0/8 and ::1) only with ``WEBHOOK_ALLOW_LOOPBACK``; private networks
  (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) only with
  ``WEBHOOK_ALLOW_PRIVATE_NETWORKS``; everything else (link-local, documentation,
  benchmarking, reserved, Teredo...) never;
- redirects are not followed (a 3xx is a failed attempt that names where it pointed);
- a timeout for connecting and for each read, and an overall deadline for reading the
  answer, of which at most 64 KiB is read.
"""

from __future__ import annotations

import contextlib
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
SPECIAL_HOSTS = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "168.63.129.16", "100.100.100.200", "fd00:ec2::254")
)
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be called; the message says why."""


class Unresolvable(Refused):
    """The host does not resolve (here, now)."""


@dataclass
class Answer:
    status: int | None = None
    body: bytes = b""
    error: str = ""
    seconds: float = 0.0
    location: str = ""


def _wrapped_refusal(ip: ipaddress.IPv6Address) -> str | None:
    """Why an IPv6 address that carries an IPv4 one is refused, or None if it does not."""
    if ip.ipv4_mapped is not None:
        return f"{ip} is an IPv4-mapped IPv6 address: give the IPv4 address itself"
    if ip in _SIX_TO_FOUR:
        return f"{ip} is a 6to4 address (wrapping {ip.sixtofour}), refused"
    if ip in _IPV4_COMPATIBLE and not (ip.is_loopback or ip.is_unspecified):
        return f"{ip} is an IPv4-compatible IPv6 address, refused"
    if ip in _NAT64_LOCAL:
        return f"{ip} is a local-use NAT64 address, refused"
    if ip in _NAT64:
        inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner in SPECIAL_HOSTS or inner.is_multicast or not inner.is_global:
            return f"{ip} is NAT64 around {inner}, which is not a public address"
    return None


def refusal_for(ip: IPAddress) -> str | None:
    """Why the portal will not connect to ``ip``, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        wrapped = _wrapped_refusal(ip)
        if wrapped:
            return wrapped
    if ip in SPECIAL_HOSTS:
        return f"{ip} is a cloud metadata address (or another cloud platform service)"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_loopback:
        if settings.WEBHOOK_ALLOW_LOOPBACK:
            return None
        return f"{ip} is the portal's own machine (loopback); set WEBHOOK_ALLOW_LOOPBACK=1 to allow"
    if ip.is_global:
        return None
    if any(ip in network for network in PRIVATE_NETWORKS):
        if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
            return None
        return (
            f"{ip} is on a private network; set WEBHOOK_ALLOW_PRIVATE_NETWORKS=1 to allow "
            "receivers on private networks"
        )
    if ip.is_link_local:
        return f"{ip} is link-local (where cloud metadata services live)"
    return f"{ip} is not a globally routable unicast address"


def host_of(url: str) -> str:
    """What the change log and the pages may say about a URL: its host. The path and query
    of a webhook URL are often its secret (Slack's are)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


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
        port = parts.port
    except ValueError:
        raise Refused("the URL's port is not a number between 1 and 65535") from None
    if port == 0:
        raise Refused("the URL names port 0, which no receiver listens on")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (looked up once); Refused if any is not allowed."""
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
            raise Unresolvable(f"could not resolve {host}: {e.strerror}") from None
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


def check_destination(url: str) -> None:
    """What a form asks before saving a URL: Refused when it could never be called. A host
    that does not resolve here passes (the workers may resolve it; they check again)."""
    _, host, port = check_url(url)
    with contextlib.suppress(Unresolvable):
        resolve(host, port)


def _dial(addresses: list[IPAddress], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first of the checked addresses that answers (never a new lookup:
    numeric addresses only)."""
    error: OSError | None = None
    for address in addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((str(address), port))
        except OSError as e:
            sock.close()
            error = e
            continue
        return sock
    assert error is not None
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addresses: list[IPAddress], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _dial(self._addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, addresses: list[IPAddress], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._addresses = addresses

    def connect(self) -> None:
        sock = _dial(self._addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float | None = None) -> Answer:
    """POST ``body`` once, never following a redirect. Refused when the URL is not allowed;
    otherwise an Answer that holds the status and the start of the body, or the error.
    ``timeout`` defaults to WEBHOOK_TIMEOUT_SECONDS."""
    scheme, host, port = check_url(url)
    addresses = resolve(host, port)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS if timeout is None else timeout)
    cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    connection = cls(host, port, addresses, timeout)
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
