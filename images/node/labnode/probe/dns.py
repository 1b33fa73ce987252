"""dns: ask a DNS server one question over UDP, as a stub resolver does.

    lab-probe dns www.example.lab [--server ADDR] [--type A] [--expect 10.0.1.10]

The server is --server, else the first `nameserver` of /etc/resolv.conf.
The query asks for recursion (RD), like a host's resolver; a truncated reply
is asked again over TCP.  The result: the rcode, the answers as zone-file
lines, the addresses among them (A and AAAA, CNAMEs followed as the server
gave them), and ok = NOERROR with an answer (and, with --expect, that
address among them).  Messages are built and read by labnode.dns.message,
whose decoder refuses (never crashes on) a malformed reply.
"""

from __future__ import annotations

import random
import socket
import struct
import time

from labnode.dns import message as dm

RESOLV_CONF = "/etc/resolv.conf"
MAX_RESOLV_CONF = 64 * 1024


def nameservers(path: str = RESOLV_CONF) -> list[str]:
    """The nameservers of resolv.conf, in order."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(MAX_RESOLV_CONF)
    except OSError:
        return []
    return [words[1] for words in (line.split() for line in text.splitlines())
            if len(words) >= 2 and words[0] == "nameserver"]


def nameserver(path: str = RESOLV_CONF) -> str | None:
    """The first nameserver of resolv.conf, if there is one."""
    found = nameservers(path)
    return found[0] if found else None


def _udp(server: str, data: bytes, timeout: float) -> bytes:
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server, 53))
        sock.send(data)
        return sock.recv(65535)


def _tcp(server: str, data: bytes, timeout: float) -> bytes:
    with socket.create_connection((server, 53), timeout=timeout) as sock:
        sock.sendall(struct.pack("!H", len(data)) + data)
        head = b""
        while len(head) < 2:
            chunk = sock.recv(2 - len(head))
            if not chunk:
                raise OSError("connection closed before the reply")
            head += chunk
        (size,) = struct.unpack("!H", head)
        body = b""
        while len(body) < size:
            chunk = sock.recv(size - len(body))
            if not chunk:
                raise OSError("connection closed in the middle of the reply")
            body += chunk
        return body


def lookup(name: str, server: str | None = None, qtype: str = "A", expect: str | None = None,
           timeout: float = 2.0) -> dict:
    result: dict = {"probe": "dns", "name": name, "type": qtype.upper(), "ok": False}
    rtype = dm.TYPES.get(qtype.upper())
    if rtype is None:
        result["error"] = f"unknown record type {qtype!r} (known: {', '.join(sorted(dm.TYPES))})"
        return result
    server = server or nameserver()
    result["server"] = server
    if not server:
        result["error"] = f"no --server and no nameserver in {RESOLV_CONF}"
        return result
    started = time.monotonic()
    ident = random.getrandbits(16)
    try:
        request = dm.encode(dm.query(name, rtype, id=ident))
        reply = dm.decode(_udp(server, request, timeout))
        if reply.tc:
            reply = dm.decode(_tcp(server, request, timeout))
            result["tcp"] = True
    except dm.DnsError as exc:
        result["error"] = f"bad reply: {exc}"
        return result
    except TimeoutError:
        result["error"] = f"no reply from {server} within {timeout:g} s"
        return result
    except OSError as exc:
        result["error"] = f"asking {server}: {exc.strerror or exc}"
        return result
    finally:
        result["time_ms"] = round((time.monotonic() - started) * 1000.0, 3)
    if reply.id != ident:
        result["error"] = "the reply does not answer our query (wrong id)"
        return result
    result["rcode"] = dm.rcode_name(reply.rcode)
    result["authoritative"] = reply.aa
    result["answers"] = [r.text() for r in reply.answers]
    result["addresses"] = [str(r.data) for r in reply.answers if r.rtype in (dm.A, dm.AAAA)]
    ok = reply.rcode == dm.NOERROR and bool(reply.answers)
    if not ok:
        result["error"] = result["rcode"] if reply.rcode != dm.NOERROR else "no answer (NODATA)"
    elif expect is not None and expect not in result["addresses"]:
        ok = False
        result["error"] = f"{expect} is not among the addresses"
    result["ok"] = ok
    return result
