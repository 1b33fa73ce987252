"""Opening a TAP device: Ethernet frames in and out of a file descriptor.

A TAP device is a kernel network interface whose "wire" is a file
descriptor: every frame the kernel transmits on it can be read() from the
descriptor, and every frame write()n to the descriptor is received by the
kernel as if it had arrived on the wire.  open_tap() opens /dev/net/tun and
attaches it with the TUNSETIFF ioctl:

    struct ifreq { char ifr_name[16]; short ifr_flags; ... }   (40 bytes)

with ifr_flags = IFF_TAP | IFF_NO_PI (Ethernet frames, no 4-byte packet
information header in front of them).  If no device of that name exists the
ioctl creates one (it then lives as long as the descriptor; one made with
`ip tuntap add mode tap NAME` beforehand persists).  Either way needs
CAP_NET_ADMIN.  The interface is brought up (SIOCSIFFLAGS |= IFF_UP) and the
descriptor set non-blocking.  One read() returns exactly one frame.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFNAMSIZ = 16
MAX_FRAME = 65536  # bytes per read(): a TAP without offloads never hands over more than its MTU + 14


class TapError(OSError):
    """The TAP device cannot be opened; the text says why and what to check."""


def set_up(name: str) -> None:
    """Set IFF_UP on interface `name` (like `ip link set NAME up`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH22x", name.encode(), 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, SIOCGIFFLAGS, ifreq))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", name.encode(), flags | IFF_UP))


class Tap:
    """An open TAP device: fileno(), read() -> one frame or None, write(frame)."""

    def __init__(self, name: str) -> None:
        if not name or len(name.encode()) >= IFNAMSIZ or "/" in name:
            raise TapError(f"bad TAP name {name!r}: 1 to {IFNAMSIZ - 1} bytes, no '/'")
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise TapError(f"cannot open /dev/net/tun: {exc.strerror} (is the tun module loaded, "
                           "is /dev/net/tun in the container?)") from None
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
            set_up(name)
        except OSError as exc:
            os.close(fd)
            raise TapError(f"cannot attach TAP {name!r}: {exc.strerror} (needs CAP_NET_ADMIN; "
                           "an existing device of that name must be a TAP without packet info)") from None
        os.set_blocking(fd, False)
        self.fd = fd
        self.name = name

    def fileno(self) -> int:
        return self.fd

    def read(self) -> bytes | None:
        """One frame, or None when nothing is waiting."""
        try:
            return os.read(self.fd, MAX_FRAME)
        except (BlockingIOError, InterruptedError):
            return None

    def write(self, frame: bytes) -> bool:
        """Hand one frame to the kernel; False if it was dropped (queue full)."""
        try:
            os.write(self.fd, frame)
            return True
        except (BlockingIOError, InterruptedError):
            return False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
