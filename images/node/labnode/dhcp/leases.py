"""The lease table: which address belongs to which client, until when.

A Pool is one subnet the server hands addresses out of: a range, the options
clients get (mask, router, DNS, domain, lease time) and reservations (a MAC
that always gets the same address).  The Leases table holds one Lease per
address that has ever been handed out; clients are known by their hardware
address (chaddr; option 61 is not used as the key, to keep the table simple):

    state      meaning                                  until `expires`
    offered    OFFERed, held for the client             OFFER_HOLD seconds, then forgotten
    bound      ACKed                                    the lease time, then "expired"
    released   the client sent RELEASE                  (free; remembered for affinity)
    expired    the lease ran out                        (free; remembered for affinity)
    declined   a client said it is in use (DECLINE)     DECLINE_HOLD seconds, then forgotten

A free address is one with no record, or a released/expired record.  A client
gets, in this order: its reservation; the address it had before (any record
of its MAC); the address it asks for, if free; the lowest free address never
handed out; the free address whose record is the oldest.

Time comes from `clock` (time.time by default; tests pass their own), in
seconds since the epoch, so that the lease file means the same after a
restart.  The file (save/load) is JSON, written to a temporary file and
renamed over the old one (atomic), read back with labnode.bounded:

    {"version": 1, "leases": [{"address": "10.0.1.100", "mac": "02:00:00:00:00:01",
      "hostname": "pc1", "state": "bound", "expires": 1767225600.0}, ...]}
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labnode import bounded

OFFER_HOLD = 60.0         # seconds an OFFERed address waits for the REQUEST
DECLINE_HOLD = 600.0      # seconds a DECLINEd address is not handed out
MAX_POOL = 65536          # addresses in one pool's range
MAX_FILE_BYTES = 8 << 20  # the lease file
MAX_HOSTNAME = 64
STATES = ("offered", "bound", "released", "expired", "declined")
FREE = ("released", "expired")
MAC = re.compile(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}")
HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

Address = ipaddress.IPv4Address


class Nak(Exception):
    """A REQUEST the server must answer with NAK; the text says why."""


class NotOurs(Nak):
    """A REQUEST for an address of the subnet outside this server's range."""


class LeaseFileError(ValueError):
    """The lease file cannot be used; the text names the file and the problem."""


@dataclass(frozen=True)
class Reservation:
    mac: str
    address: Address
    hostname: str | None = None


@dataclass
class Pool:
    subnet: ipaddress.IPv4Network
    start: Address
    end: Address
    router: Address | None = None
    dns: list[Address] = field(default_factory=list)
    domain: str | None = None
    lease: int = 3600
    reservations: dict[str, Reservation] = field(default_factory=dict)  # by MAC
    shared: bool = False    # another server hands out another range of this subnet
    reserved: dict[Address, str] = field(init=False, repr=False)         # address -> MAC

    def __post_init__(self) -> None:
        self.reserved = {r.address: mac for mac, r in self.reservations.items()}

    def in_range(self, address: Address) -> bool:
        return self.start <= address <= self.end

    def owns(self, address: Address) -> bool:
        """Whether this pool may hand the address out (range or reservation)."""
        return self.in_range(address) or address in self.reserved

    def reserved_for_other(self, address: Address, mac: str) -> bool:
        return self.reserved.get(address, mac) != mac

    def addresses(self):
        for value in range(int(self.start), int(self.end) + 1):
            yield Address(value)


@dataclass
class Lease:
    address: Address
    mac: str
    state: str
    expires: float
    hostname: str | None = None

    def to_json(self) -> dict:
        return {"address": str(self.address), "mac": self.mac, "hostname": self.hostname,
                "state": self.state, "expires": self.expires}


def normal_hostname(name: str | None) -> str | None:
    """A client's host name as it may go in the table and log, or None."""
    if name is None:
        return None
    name = name.strip()[:MAX_HOSTNAME]
    return name if HOSTNAME.fullmatch(name) else None


class Leases:
    """All leases of one server (every pool), keyed by address."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.table: dict[Address, Lease] = {}
        self.changed = False  # set when a save is due (offers are never saved)

    # -- looking up -----------------------------------------------------------
    def of_mac(self, mac: str, pool: Pool) -> Lease | None:
        """The record of this client inside this pool (not a declined one)."""
        for lease in self.table.values():
            if lease.mac == mac and lease.state != "declined" and pool.owns(lease.address):
                return lease
        return None

    def available(self, address: Address, mac: str, pool: Pool) -> bool:
        """Whether `address` may go to the client `mac` now."""
        if not pool.owns(address) or pool.reserved_for_other(address, mac):
            return False
        if address == pool.subnet.network_address or address == pool.subnet.broadcast_address:
            return False
        lease = self.table.get(address)
        return lease is None or lease.mac == mac and lease.state != "declined" or lease.state in FREE

    # -- time -----------------------------------------------------------------
    def expire(self) -> list[Lease]:
        """Age the table: bound leases past their time become expired, old
        offers and declines are forgotten.  Returns the newly expired leases."""
        now = self.clock()
        expired = []
        for address, lease in list(self.table.items()):
            if lease.expires > now:
                continue
            if lease.state == "bound":
                lease.state = "expired"
                expired.append(lease)
                self.changed = True
            elif lease.state in ("offered", "declined"):
                del self.table[address]
                self.changed = self.changed or lease.state == "declined"
        return expired

    # -- the protocol's operations -------------------------------------------
    def offer(self, pool: Pool, mac: str, requested: Address | None = None,
              hostname: str | None = None) -> Lease | None:
        """The address to OFFER (held OFFER_HOLD seconds), None if the pool is full."""
        self.expire()
        address = self._choose(pool, mac, requested)
        if address is None:
            return None
        old = self.table.get(address)
        if old is not None and old.mac == mac and old.state == "bound":
            return old  # it holds it already: offer the same lease
        self._drop_other_offers(mac, address)
        lease = Lease(address, mac, "offered", self.clock() + OFFER_HOLD,
                      normal_hostname(hostname) or self._reserved_name(pool, mac))
        self.table[address] = lease
        return lease

    def _choose(self, pool: Pool, mac: str, requested: Address | None) -> Address | None:
        reservation = pool.reservations.get(mac)
        if reservation is not None:
            return reservation.address if self.available(reservation.address, mac, pool) else None
        mine = self.of_mac(mac, pool)
        if mine is not None and self.available(mine.address, mac, pool):
            return mine.address
        if requested is not None and pool.in_range(requested) and self.available(requested, mac, pool):
            return requested
        oldest: Lease | None = None
        for address in pool.addresses():
            if not self.available(address, mac, pool):
                continue
            lease = self.table.get(address)
            if lease is None:
                return address
            if oldest is None or lease.expires < oldest.expires:
                oldest = lease
        return oldest.address if oldest is not None else None

    def _drop_other_offers(self, mac: str, keep: Address) -> None:
        for address, lease in list(self.table.items()):
            if lease.mac == mac and lease.state == "offered" and address != keep:
                del self.table[address]

    @staticmethod
    def _reserved_name(pool: Pool, mac: str) -> str | None:
        reservation = pool.reservations.get(mac)
        return reservation.hostname if reservation else None

    def request(self, pool: Pool, mac: str, address: Address, hostname: str | None = None) -> Lease:
        """Bind `address` to the client for the pool's lease time (a REQUEST in
        any state: selecting, init-reboot, renewing, rebinding); Nak if it
        cannot be this client's."""
        self.expire()
        if address not in pool.subnet:
            raise Nak(f"{address} is not in {pool.subnet}")
        if not pool.owns(address):
            raise NotOurs(f"{address} is not in our range")
        reservation = pool.reservations.get(mac)
        if reservation is not None and reservation.address != address:
            raise Nak(f"{mac} has the reserved address {reservation.address}")
        if pool.reserved_for_other(address, mac):
            raise Nak(f"{address} is reserved for another client")
        if not self.available(address, mac, pool):
            raise Nak(f"{address} is not free")
        self._drop_other_offers(mac, address)
        for other in list(self.table.values()):  # one bound address per client and pool
            if (other.mac == mac and other.address != address and other.state == "bound"
                    and pool.owns(other.address)):
                other.state = "released"
                other.expires = self.clock()
        name = normal_hostname(hostname) or self._reserved_name(pool, mac)
        lease = Lease(address, mac, "bound", self.clock() + pool.lease, name)
        self.table[address] = lease
        self.changed = True
        return lease

    def forget_offer(self, mac: str) -> None:
        """The client chose another server (its REQUEST names another server id)."""
        for address, lease in list(self.table.items()):
            if lease.mac == mac and lease.state == "offered":
                del self.table[address]

    def release(self, mac: str, address: Address) -> Lease | None:
        """RELEASE: the client gives the address back; None if it was not its."""
        lease = self.table.get(address)
        if lease is None or lease.mac != mac or lease.state not in ("bound", "offered"):
            return None
        lease.state = "released"
        lease.expires = self.clock()
        self.changed = True
        return lease

    def decline(self, mac: str, address: Address) -> Lease | None:
        """DECLINE: the client found the address in use; it is not handed out
        for DECLINE_HOLD seconds.  None if it was not this client's."""
        lease = self.table.get(address)
        if lease is None or lease.mac != mac:
            return None
        self.table[address] = Lease(address, "", "declined", self.clock() + DECLINE_HOLD)
        self.changed = True
        return self.table[address]

    # -- the file --------------------------------------------------------------
    def to_json(self) -> dict:
        saved = [lease.to_json() for lease in sorted(self.table.values(), key=lambda x: x.address)
                 if lease.state != "offered"]
        return {"version": 1, "leases": saved}

    def save(self, path: str) -> None:
        """Write the table to `path` atomically (temporary file, fsync, rename)."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".dhcp-leases-", dir=directory)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self.to_json(), handle, indent=1)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.changed = False

    def load(self, path: str) -> None:
        """Replace the table with the file's; a missing file is an empty table;
        LeaseFileError (and nothing else) if it cannot be used."""
        try:
            data = bounded.load_file(path, max_bytes=MAX_FILE_BYTES)
        except FileNotFoundError:
            self.table = {}
            return
        except OSError as exc:
            raise LeaseFileError(f"cannot read lease file {path}: {exc.strerror}") from None
        except bounded.BoundedError as exc:
            raise LeaseFileError(f"lease file {path} is not valid JSON: {exc.detail}") from None
        self.table = parse_file(data, path)
        self.changed = False


def parse_file(data, path: str = "lease file") -> dict[Address, Lease]:
    """The table of a decoded lease file; LeaseFileError naming the entry."""
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("leases"), list):
        raise LeaseFileError(f'{path}: expected {{"version": 1, "leases": [...]}}')
    table: dict[Address, Lease] = {}
    for index, entry in enumerate(data["leases"]):
        where = f"{path}: leases[{index}]"
        if not isinstance(entry, dict):
            raise LeaseFileError(f"{where} is not an object")
        unknown = set(entry) - {"address", "mac", "hostname", "state", "expires"}
        if unknown:
            raise LeaseFileError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        try:
            address = Address(entry.get("address"))
        except ValueError:
            raise LeaseFileError(f"{where}.address: not an IPv4 address: "
                                 f"{str(entry.get('address'))[:40]!r}") from None
        mac, state, expires = entry.get("mac"), entry.get("state"), entry.get("expires")
        hostname = entry.get("hostname")
        if state not in STATES or state == "offered":
            raise LeaseFileError(f"{where}.state: expected one of bound, released, expired, declined")
        if not isinstance(mac, str) or not (MAC.fullmatch(mac) or state == "declined" and mac == ""):
            raise LeaseFileError(f"{where}.mac: not a MAC address like 02:00:00:00:00:01")
        if isinstance(expires, bool) or not isinstance(expires, (int, float)) or not 0 <= expires < 1e11:
            raise LeaseFileError(f"{where}.expires: expected seconds since the epoch")
        if hostname is not None and (not isinstance(hostname, str) or normal_hostname(hostname) != hostname):
            raise LeaseFileError(f"{where}.hostname: not a host name")
        if address in table:
            raise LeaseFileError(f"{where}: address {address} appears twice")
        table[address] = Lease(address, mac, state, float(expires), hostname)
    return table
