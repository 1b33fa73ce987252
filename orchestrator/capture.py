"""Programs whose output streams out of a node: tcpdump (capture) and tail (logs).

Both run through the backend's `stream` (protocol.Stream); what is read is
handed to callbacks. Ctrl-C stops the program cleanly (it is absorbed, the
capture flushed). Nothing here prints.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from .backend.protocol import Stream
from .errors import BackendError, UsageError


@dataclass
class CaptureResult:
    packets: int            # frames written / printed
    stderr: str             # tcpdump's own messages ("N packets captured" ...)
    interrupted: bool
    #: text captures: how many lines of each kind were seen ("ARP request", "ARP reply", ...)
    seen: dict[str, int] = field(default_factory=dict)


#: an IPv4 address as tcpdump -n prints it, possibly with ".PORT" after it
_IPV4 = re.compile(r"(?<![\d.:])(\d{1,3}(?:\.\d{1,3}){3})((?:\.\d{1,5})?)(?![\d])")
_MAC = re.compile(r"(?<![0-9a-f:])((?:[0-9a-f]{2}:){5}[0-9a-f]{2})(?![0-9a-f:])")
#: an IPv6 address as tcpdump prints it (fe80::1, 2001:db8:1::10), possibly with ".PORT" after it
_IPV6 = re.compile(r"(?<![0-9a-f:.])([0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?<=[0-9a-f]))"
                   r"((?:\.\d{1,5})?)(?![0-9a-f]|:[0-9a-f])")
#: what a text capture counts, by the words tcpdump prints
KINDS = (("ARP request", re.compile(r"\bARP\b.*\bRequest who-has\b")),
         ("ARP reply", re.compile(r"\bARP\b.*\bReply\b.*\bis-at\b")),
         ("ICMP echo request", re.compile(r"\bICMP echo request\b")),
         ("ICMP echo reply", re.compile(r"\bICMP echo reply\b")),
         ("DHCP message", re.compile(r"\bBOOTP/DHCP\b")),
         ("ICMPv6 router advertisement", re.compile(r"\bICMP6, router advertisement\b")),
         ("ICMPv6 router solicitation", re.compile(r"\bICMP6, router solicitation\b")),
         ("ICMPv6 neighbor solicitation", re.compile(r"\bICMP6, neighbor solicitation\b")),
         ("ICMPv6 neighbor advertisement", re.compile(r"\bICMP6, neighbor advertisement\b")),
         ("ICMPv6 echo request", re.compile(r"\bICMP6, echo request\b")),
         ("ICMPv6 echo reply", re.compile(r"\bICMP6, echo reply\b")))


class Namer:
    """The lab's names in a line of tcpdump: `10.0.1.1 (r1)`, `02:..:f7 (r1:eth0)`."""

    def __init__(self, addresses: Mapping[str, str], macs: Mapping[str, str]):
        self.addresses, self.macs = addresses, macs

    def __call__(self, line: str) -> str:
        line = _MAC.sub(lambda m: f"{m.group(1)} ({self.macs[m.group(1)]})" if m.group(1) in self.macs
                        else m.group(0), line)
        if ":" in line and self.addresses:
            line = _IPV6.sub(lambda m: f"{m.group(0)} ({self.addresses[m.group(1)]})" if m.group(1) in self.addresses
                             else m.group(0), line)
        return _IPV4.sub(lambda m: f"{m.group(0)} ({self.addresses[m.group(1)]})" if m.group(1) in self.addresses
                         else m.group(0), line)


def count_kinds(seen: dict[str, int], line: str) -> None:
    for kind, pattern in KINDS:
        if pattern.search(line):
            seen[kind] = seen.get(kind, 0) + 1
            return


def tcpdump_argv(iface: str, *, pcap: bool, count: int | None, bpf: list[str],
                 link_level: bool = False) -> list[str]:
    argv = ["tcpdump", "-i", iface, "-n"]
    argv += ["-U", "-w", "-"] if pcap else ["-l"]
    if link_level and not pcap:
        argv.append("-e")
    if count:
        argv += ["-c", str(count)]
    return argv + list(bpf)


def run_capture(proc: Stream, where: str, *, pcap_out: BinaryIO | None = None,
                on_line: Callable[[str], None] | None = None, seconds: float | None = None,
                on_ready: Callable[[str], None] | None = None,
                namer: Callable[[str], str] | None = None) -> CaptureResult:
    """Read a running tcpdump: pcap bytes to pcap_out, or each decoded line to
    on_line (with the lab's names added by `namer`, when given). Ends when
    tcpdump does (its -c count), after `seconds`, or on Ctrl-C."""
    if (pcap_out is None) == (on_line is None):
        raise UsageError("give exactly one of pcap_out and on_line")
    deadline = time.monotonic() + seconds if seconds else None
    seen: dict[str, int] = {}
    if on_line is not None:
        given = on_line

        def on_line(line: str) -> None:
            count_kinds(seen, line)
            given(namer(line) if namer else line)
    stderr, text, ready = b"", b"", b""
    interrupted = stopping = False
    while True:
        try:
            for item in proc.chunks():   # a fresh reader after Ctrl-C: the rest is still queued
                if item is None:
                    if deadline and not stopping and time.monotonic() >= deadline:
                        stopping = True
                        proc.stop()
                    continue
                out, err = item
                if err:
                    stderr += err
                    if on_ready and not ready:
                        # the whole line, though the pipe may hand it over in pieces
                        ready = next((ln for ln in stderr.split(b"\n")[:-1] if b"listening on" in ln), b"")
                        if ready:
                            on_ready(ready.decode(errors="replace").strip())
                if out and pcap_out is not None:
                    pcap_out.write(out)
                    pcap_out.flush()
                elif out and on_line is not None:
                    text += out
                    *lines, text = text.split(b"\n")
                    for ln in lines:
                        if ln.strip():  # tcpdump ends with a bare newline on SIGINT
                            on_line(ln.decode(errors="replace"))
            break
        except KeyboardInterrupt:
            interrupted = True
            if not stopping:
                stopping = True
                proc.stop()
    if text.strip() and on_line:
        on_line(text.decode(errors="replace"))
    code = proc.exit_code()
    message = stderr.decode(errors="replace").strip()
    if code not in (0, None) and not stopping:
        raise BackendError(f"tcpdump on {where} failed (exit {code}): {message}")
    return CaptureResult(packets=captured_count(message), stderr=message, interrupted=interrupted, seen=seen)


def captured_count(message: str) -> int:
    """'12 packets captured' (tcpdump's summary on stderr) -> 12."""
    for line in message.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1:3] in (["packets", "captured"], ["packet", "captured"]):
            return int(words[0])
    return 0


def follow_text(proc: Stream, on_text: Callable[[str], None]) -> None:
    """Pass a program's stdout on as text until it ends or Ctrl-C stops it."""
    try:
        for item in proc.chunks():
            if item is not None and item[0]:
                on_text(item[0].decode(errors="replace"))
    except KeyboardInterrupt:
        proc.stop()
