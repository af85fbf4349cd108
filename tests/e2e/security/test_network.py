"""The network: a function reaches neither the control plane nor any service of the host, nor another
environment's Runtime API, and may not open raw or packet sockets. With outbound access (slirp4netns) the
host's loopback, where Firebox listens, stays out of reach."""

from __future__ import annotations

import ipaddress
import re
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.security.hostile import invoke, logged, succeeded, wait_for
from tests.server_process import FireboxServer

CONNECT = """
import os
import socket
import urllib.request
from probe import attempt

def _connect(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        s.connect((address, port))
        return s.getpeername()

def _get(url):
    with urllib.request.urlopen(url, timeout=1) as reply:
        return reply.status

def _unix(name):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(name)

def handler(event, context):
    observed = {f"{address} port {port}": attempt(_connect, address, port) for address, port in event["targets"]}
    observed["the endpoint it is told of"] = attempt(_get, os.environ["AWS_ENDPOINT_URL_LAMBDA"] + "/firebox/health")
    for name in event["unix"]:
        observed["unix " + name] = attempt(_unix, name.replace("@", "\\0", 1))
    with open("/proc/net/dev") as f:
        interfaces = sorted(line.split(":")[0].strip() for line in f.read().splitlines()[2:])
    expected = event.get("interfaces", ["lo"])
    observed["interfaces"] = "refused: as given" if interfaces == expected else "ok: " + repr(interfaces)
    return observed
"""

HOLD = """
import time

def handler(event, context):
    print("holding " + context.aws_request_id, flush=True)
    deadline = time.monotonic() + event["hold_s"]
    while time.monotonic() < deadline:
        time.sleep(0.02)
    return "not hijacked"
"""

SCAN_LOOPBACK = """
import http.client
import socket

def _listening():
    # What listens in this network namespace, as the kernel lists it.
    ports = set()
    for table in ("tcp", "tcp6"):
        with open("/proc/net/" + table) as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)

def _open_ports(address, candidates):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    found = []
    for port in candidates:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            if s.connect_ex((address, port)) == 0:
                found.append(port)
    return found

def _post(port, path, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("POST", path, body=body)
        reply = connection.getresponse()
        return [reply.status, reply.read().decode()[:200]]
    finally:
        connection.close()

def handler(event, context):
    # Every port Firebox could have handed another environment, every port below 1024, the server's, and
    # every port anything listens on in this network namespace.
    candidates = sorted(set(range(1, 1024)) | set(range(8000, 10000)) | {event["server_port"]} | set(_listening()))
    open_ports = {address: _open_ports(address, candidates) for address in ("127.0.0.1", "::1")}
    hijack = "/2018-06-01/runtime/invocation/" + event["victim_request_id"] + "/response"
    answers = {port: _post(port, hijack, b'"hijacked"') for port in open_ports["127.0.0.1"]}
    return {"listening": _listening(), "open": open_ports, "hijack answers": answers}
"""

RAW_SOCKETS = """
import socket
from probe import attempt

KINDS = {
    "AF_PACKET SOCK_RAW": (socket.AF_PACKET, socket.SOCK_RAW, 0x0300),
    "AF_PACKET SOCK_DGRAM": (socket.AF_PACKET, socket.SOCK_DGRAM, 0x0300),
    "AF_INET SOCK_RAW IPPROTO_RAW": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),
    "AF_INET SOCK_RAW IPPROTO_ICMP": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    "AF_INET SOCK_RAW IPPROTO_TCP": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP),
    "AF_INET6 SOCK_RAW IPPROTO_ICMPV6": (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
    "AF_INET SOCK_PACKET": (socket.AF_INET, 10, 0x0300),
    "ICMP datagram (ping) socket": (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP),
}

def _open(family, kind, protocol):
    socket.socket(family, kind, protocol).close()

def handler(event, context):
    return {name: attempt(_open, *kind) for name, kind in KINDS.items()}
"""


def _host_addresses() -> list[str]:
    """The host's own addresses, IPv4 and IPv6 (loopback too), as the test, outside every sandbox, sees them."""
    trie = Path("/proc/net/fib_trie").read_text()
    ipv4 = set(re.findall(r"\|-- ([0-9.]+)\n\s+/32 host LOCAL", trie))
    ipv6 = set()
    for line in Path("/proc/net/if_inet6").read_text().splitlines():
        address = ipaddress.IPv6Address(bytes.fromhex(line.split()[0]))
        if not address.is_link_local:  # reaching one needs an interface, and the sandbox has only lo
            ipv6.add(str(address))
    return sorted(ipv4 | ipv6 | {"127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class HostService:
    port: int
    unix: list[str]


@pytest.fixture
def host_service(tmp_path: Path) -> Iterator[HostService]:
    """Stand-ins for the host's own services: a TCP port open on every address, a Unix socket by path and
    one in the abstract namespace."""
    with (
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as tcp,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as by_path,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as abstract,
    ):
        tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        tcp.bind(("::", 0))
        by_path.bind(str(tmp_path / "service.sock"))
        abstract_name = f"firebox-security-{secrets.token_hex(8)}"
        abstract.bind("\0" + abstract_name)
        for listening in (tcp, by_path, abstract):
            listening.listen(8)
        yield HostService(tcp.getsockname()[1], [str(tmp_path / "service.sock"), "@" + abstract_name])


def test_control_plane_and_host_services_are_unreachable(
    deploy: Callable[..., str], lambda_client: Any, server: FireboxServer, host_service: HostService
) -> None:
    ports = [server.port, host_service.port]
    targets = [(address, port) for address in _host_addresses() for port in ports]
    outcome = invoke(lambda_client, deploy(CONNECT, Timeout=30), {"targets": targets, "unix": host_service.unix})
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}
    assert f"127.0.0.1 port {server.port}" in outcome.payload


def test_only_its_own_runtime_api_is_reachable(
    deploy: Callable[..., str], lambda_client: Any, server: FireboxServer
) -> None:
    victim = deploy(HOLD, "-victim", Timeout=30)
    thief = deploy(SCAN_LOOPBACK, "-thief", Timeout=30)
    logs = server.client("logs")
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(invoke, lambda_client, victim, {"hold_s": 4})
        holding = wait_for(lambda: logged(logs, victim, "holding "), 15, "the victim's invocation")
        victim_request_id = holding[0].split()[-1]
        attack = {"victim_request_id": victim_request_id, "server_port": server.port}
        outcome = invoke(lambda_client, thief, attack)
        assert not held.done(), "the victim's invocation ended before the attack: nothing was tested"
        assert held.result().payload == "not hijacked"
    assert outcome.function_error is None, outcome
    assert outcome.payload["listening"] == [9001], outcome.payload
    assert outcome.payload["open"] == {"127.0.0.1": [9001], "::1": []}
    status, answer = outcome.payload["hijack answers"]["9001"]
    assert status == 400 and "InvalidRequestID" in answer, outcome.payload


def test_raw_and_packet_sockets_are_refused(deploy: Callable[..., str], lambda_client: Any) -> None:
    outcome = invoke(lambda_client, deploy(RAW_SOCKETS))
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}


outbound_only = pytest.mark.skipif(
    shutil.which("slirp4netns") is None, reason="outbound access needs slirp4netns (Debian package slirp4netns)"
)
OUTBOUND = {"Variables": {"FIREBOX_NETWORK": "outbound"}}
# slirp4netns's network: its gateway (the host) and DNS relay, and other addresses it might take for the host's
SLIRP_ADDRESSES = ["10.0.2.2", "10.0.2.3", "10.0.2.1", "10.0.2.4", "10.0.2.15", "10.0.2.254"]


@outbound_only
def test_outbound_access_keeps_firebox_and_the_host_loopback_out_of_reach(
    deploy: Callable[..., str], lambda_client: Any, server: FireboxServer, host_service: HostService
) -> None:
    addresses = [*_host_addresses(), *SLIRP_ADDRESSES]
    targets = [(a, server.port) for a in addresses] + [(a, host_service.port) for a in SLIRP_ADDRESSES]
    event = {"targets": targets, "unix": host_service.unix, "interfaces": ["lo", "tap0"]}
    outcome = invoke(lambda_client, deploy(CONNECT, Timeout=30, Environment=OUTBOUND), event)
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}


@outbound_only
def test_outbound_access_keeps_the_hosts_own_services_out_of_reach(
    deploy: Callable[..., str], lambda_client: Any, host_service: HostService
) -> None:
    addresses = [a for a in _host_addresses() if not ipaddress.ip_address(a).is_loopback]
    if not addresses:
        pytest.skip("the host has no address but its loopback")
    event = {"targets": [(a, host_service.port) for a in addresses], "unix": [], "interfaces": ["lo", "tap0"]}
    outcome = invoke(lambda_client, deploy(CONNECT, Timeout=30, Environment=OUTBOUND), event)
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}
