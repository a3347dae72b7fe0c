"""The one guard every outgoing call goes through (webhooks and the incidents' maintenance
webhook): only globally routable unicast addresses, loopback and private networks only
when the operator allows them, the host resolved once and the checked address dialled."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from release_portal.webhooks import outgoing

ALWAYS_REFUSED = [
    "168.63.129.16",  # Azure's platform service (wireserver)
    "169.254.169.254",  # cloud metadata
    "100.100.100.200",  # Alibaba Cloud metadata, inside 100.64.0.0/10
    "fd00:ec2::254",  # AWS metadata over IPv6, inside fc00::/7
    "2002:a00:1::",  # 6to4 wrapping 10.0.0.1
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "2002:808:808::",  # 6to4 at all: refused
    "::ffff:8.8.8.8",  # IPv4-mapped
    "::ffff:127.0.0.1",
    "::a00:1",  # IPv4-compatible (deprecated) 10.0.0.1
    "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
    "64:ff9b:1::1",  # local-use NAT64
    "2001::1",  # Teredo
    "224.0.0.1",
    "ff02::1",
    "0.0.0.0",  # noqa: S104 (an address refused, not bound)
    "::",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "2001:db8::1",
    "198.18.0.1",
    "fe80::1",
]
LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1"]
PRIVATE = ["10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fc00::1"]
GLOBAL = ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808", "1.1.1.1"]


def reason(address: str) -> str | None:
    return outgoing.refusal_for(ipaddress.ip_address(address))


@pytest.fixture
def everything_allowed(settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_it_refuses_special_addresses_whatever_the_settings(address, everything_allowed):
    assert reason(address)


@pytest.mark.parametrize("address", GLOBAL)
def test_it_allows_globally_routable_unicast(address, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert reason(address) is None


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_only_when_configured(address, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    assert "WEBHOOK_ALLOW_LOOPBACK" in (reason(address) or "")
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    assert reason(address) is None


@pytest.mark.parametrize("address", PRIVATE)
def test_private_networks_only_when_configured(address, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" in (reason(address) or "")
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    assert reason(address) is None


def test_the_explanations_name_what_the_address_is(everything_allowed):
    assert "6to4" in (reason("2002:a00:1::") or "") and "10.0.0.1" in (reason("2002:a00:1::") or "")
    assert "IPv4-mapped" in (reason("::ffff:8.8.8.8") or "")
    assert "metadata" in (reason("168.63.129.16") or "")


@pytest.mark.parametrize("url", ["http://hooks.example.com:0/x", "https://[::1]:0/"])
def test_it_refuses_port_0(url):
    with pytest.raises(outgoing.Refused, match="port 0"):
        outgoing.check_url(url)


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str]]

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append((self.command, self.path, self.headers.get("Host", "")))
        self.send_response(204)
        self.end_headers()

    do_POST = do_GET = _record

    def log_message(self, *args: object) -> None:
        pass


def _serve(host: str, family: socket.AddressFamily):
    class Server(ThreadingHTTPServer):
        address_family = family

    class Handler(_Recorder):
        seen: list[tuple[str, str, str]] = []

    server = Server((host, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Handler.seen


@pytest.fixture
def ipv6_receiver():
    try:
        server, seen = _serve("::1", socket.AF_INET6)
    except OSError as e:  # a machine without IPv6 loopback
        pytest.skip(f"no IPv6 loopback here: {e}")
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_the_ipv6_loopback_is_allowed_with_loopback(ipv6_receiver, settings):
    port, seen = ipv6_receiver
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    answer = outgoing.post(f"http://[::1]:{port}/hook", b"{}", {})
    assert answer.status == 204 and seen == [("POST", "/hook", f"[::1]:{port}")]
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    with pytest.raises(outgoing.Refused, match="loopback"):
        outgoing.post(f"http://[::1]:{port}/hook", b"{}", {})
    assert len(seen) == 1


def test_it_resolves_the_host_once_and_dials_the_address_it_checked(settings, monkeypatch):
    server, seen = _serve("127.0.0.1", socket.AF_INET)
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    port = server.server_address[1]
    real = socket.getaddrinfo
    lookups = []

    def rebinding(host, *args, **kwargs):
        if host != "hooks.example.test":
            return real(host, *args, **kwargs)
        lookups.append(host)
        # First answer passes the check; any later one would point at metadata.
        address = "127.0.0.1" if len(lookups) == 1 else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        answer = outgoing.post(f"http://hooks.example.test:{port}/hook", b"{}", {})
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status == 204
    assert lookups == ["hooks.example.test"]
    assert seen == [("POST", "/hook", f"hooks.example.test:{port}")]


def test_a_name_resolving_to_a_6to4_wrapper_of_a_private_address_is_refused(monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(socket.AF_INET6, socket.SOCK_STREAM, 6, "",
                                      ("2002:a00:1::", port, 0, 0))],
    )  # fmt: skip
    with pytest.raises(outgoing.Refused, match=r"hooks\.example\.com resolves to 2002:a00:1::"):
        outgoing.post("https://hooks.example.com/x", b"{}", {})
