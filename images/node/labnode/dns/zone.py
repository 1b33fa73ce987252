"""Zones and authoritative answers, no I/O.

A zone is an origin (example.lab) and the records at and below it, loaded
from the JSON document the orchestrator writes:

    {"zones": [{"origin": "example.lab", "ttl": 300,
                "soa": {"mname": "ns1", "rname": "hostmaster", "serial": 1,
                        "refresh": 3600, "retry": 600, "expire": 86400, "minimum": 60},
                "records": [{"name": "www", "type": "A", "value": "10.0.1.10"},
                            {"name": "@", "type": "MX", "value": "10 mail"},
                            {"name": "@", "type": "NS", "value": "ns1"},
                            {"name": "mail", "type": "CNAME", "value": "www", "ttl": 60},
                            {"name": "txt", "type": "TXT", "value": "hello"}]}]}

Names follow zone-file rules: "@" is the origin, a name ending in "." is
absolute ("www.example.lab."), any other is relative to the origin ("www" is
www.example.lab) -- in record names and in values (CNAME, NS, MX, PTR, SOA).
"soa" and every SOA field are optional (mname: the first NS at the origin,
rname: hostmaster, minimum: the zone's ttl); "ttl" per record is optional.
The root zone has origin ".".  Types: A AAAA CNAME MX NS PTR TXT (TXT value a
string or a list of strings).  Anything else, an unknown key, a CNAME beside
other data, a record outside the zone or hidden below a delegation (other
than glue addresses) is a ZoneError naming the zone and the record.

Answers (Authority.answer, after RFC 1034 4.3.2, no wildcards, no DNSSEC):

    name below a delegation (NS records at a name under the origin)
        -> referral: the NS set in authority, their addresses (glue) in additional, no AA
    name with data of the type     -> the records, AA
    name with a CNAME              -> the CNAME, then the target chased through our
                                      zones (at most MAX_CHAIN links), AA
    name exists, no data of type   -> NODATA: NOERROR, SOA in authority, AA
    name does not exist            -> NXDOMAIN, SOA in authority, AA
    MX and NS targets with addresses in our zones -> those A/AAAA in additional
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from labnode.dns import message as dm
from labnode.dns.message import DnsError, Question, Record, SoaData

MAX_ZONES = 1000
MAX_ZONE_RECORDS = 100_000
MAX_CHAIN = 8           # CNAME links followed within our zones
MAX_TTL = 7 * 86400
DEFAULT_TTL = 300
TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "TXT")
SOA_FIELDS = {"mname": None, "rname": None, "serial": 1, "refresh": 3600, "retry": 600,
              "expire": 86400, "minimum": None}


class ZoneError(ValueError):
    """A zone document that does not make sense; the text names zone and record."""


def join(relative: str, origin: str) -> str:
    return f"{relative}.{origin}" if origin else relative


@dataclass
class Zone:
    origin: str                                   # normalized, "" for the root
    ttl: int
    soa: Record
    rrsets: dict[str, dict[int, list[Record]]] = field(default_factory=dict)  # by key(name), type
    names: set[str] = field(default_factory=set)  # every existing name, empty non-terminals too
    cuts: set[str] = field(default_factory=set)   # delegation points (NS below the origin)

    def add(self, rr: Record) -> None:
        owner = dm.key(rr.name)
        self.rrsets.setdefault(owner, {}).setdefault(rr.rtype, []).append(rr)
        name = owner
        while True:  # the name and every ancestor down to the origin exist
            self.names.add(name)
            if name == dm.key(self.origin) or "." not in name:
                break
            name = name.split(".", 1)[1]
        if rr.rtype == dm.NS and owner != dm.key(self.origin):
            self.cuts.add(owner)

    def get(self, name: str, rtype: int) -> list[Record]:
        return self.rrsets.get(dm.key(name), {}).get(rtype, [])

    def negative_soa(self) -> Record:
        """The SOA for the authority section of a negative answer (RFC 2308 TTL)."""
        soa = self.soa
        return Record(soa.name, dm.SOA, min(soa.ttl, soa.data.minimum), soa.data)  # type: ignore[attr-defined]

    def cut_above(self, name: str) -> str | None:
        """The highest delegation point between the origin (excluded) and name (included)."""
        labels = dm.key(name).split(".")
        depth = len(labels) - (len(self.origin.split(".")) if self.origin else 0)
        for i in range(depth - 1, -1, -1):
            candidate = ".".join(labels[i:])
            if candidate in self.cuts:
                return candidate
        return None


# -- loading -------------------------------------------------------------------

def _name(value, origin: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ZoneError(f"{where}: a name must be a non-empty string")
    try:
        if value == "@":
            return origin
        if value.endswith("."):
            return dm.normalize(value)
        return dm.normalize(join(value, origin))
    except DnsError as exc:
        raise ZoneError(f"{where}: {exc}") from None


def _ttl(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TTL:
        raise ZoneError(f"{where}: ttl must be an integer from 0 to {MAX_TTL}")
    return value


def _data(rtype: str, value, origin: str, where: str) -> object:
    if rtype == "TXT":
        parts = [value] if isinstance(value, str) else value
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
            raise ZoneError(f"{where}: a TXT value is a string or a list of strings")
        chunks = []
        for part in parts:
            raw = part.encode("utf-8")
            chunks += [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
        return tuple(chunks)
    if not isinstance(value, str):
        raise ZoneError(f"{where}: value must be a string")
    if rtype in ("A", "AAAA"):
        try:
            address = (ipaddress.IPv4Address if rtype == "A" else ipaddress.IPv6Address)(value)
        except ValueError:
            raise ZoneError(f"{where}: {value!r} is not an IPv{4 if rtype == 'A' else 6} address") from None
        return str(address)
    if rtype == "MX":
        parts = value.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) > 65535:
            raise ZoneError(f"{where}: an MX value is 'PREFERENCE NAME', e.g. '10 mail'")
        return (int(parts[0]), _name(parts[1], origin, where))
    return _name(value, origin, where)  # CNAME NS PTR


def _check_keys(doc, allowed: Iterable[str], where: str) -> None:
    if not isinstance(doc, dict):
        raise ZoneError(f"{where}: expected an object")
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise ZoneError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")


def load_zone(doc, index: int = 0) -> Zone:
    where = f"zones[{index}]"
    _check_keys(doc, ("origin", "ttl", "soa", "records"), where)
    if "origin" not in doc:
        raise ZoneError(f"{where}: missing 'origin'")
    origin = _name(doc["origin"] if doc["origin"] != "." else ".", "", where + ".origin")
    where = f"zone {origin or '.'}"
    ttl = _ttl(doc.get("ttl", DEFAULT_TTL), where)
    records = doc.get("records", [])
    if not isinstance(records, list):
        raise ZoneError(f"{where}: records must be a list")
    if len(records) > MAX_ZONE_RECORDS:
        raise ZoneError(f"{where}: more than {MAX_ZONE_RECORDS} records")
    parsed: list[Record] = []
    for i, raw in enumerate(records):
        here = f"{where}: records[{i}]"
        _check_keys(raw, ("name", "type", "value", "ttl"), here)
        for needed in ("name", "type", "value"):
            if needed not in raw:
                raise ZoneError(f"{here}: missing {needed!r}")
        rtype = raw["type"].upper() if isinstance(raw["type"], str) else raw["type"]
        if rtype not in TYPES:
            raise ZoneError(f"{here}: type {raw['type']!r} is not one of {' '.join(TYPES)}")
        name = _name(raw["name"], origin, here)
        here = f"{where}: records[{i}] ({raw['name']} {rtype})"
        if not dm.is_subdomain(name, origin):
            raise ZoneError(f"{here}: {name} is outside the zone")
        data = _data(rtype, raw["value"], origin, here)
        parsed.append(Record(name, dm.TYPES[rtype], _ttl(raw.get("ttl", ttl), here), data))
    zone = Zone(origin, ttl, _soa(doc.get("soa", {}), origin, ttl, parsed, where))
    for rr in parsed:
        zone.add(rr)
    _check_consistency(zone, where)
    return zone


def _soa(doc, origin: str, ttl: int, records: list[Record], where: str) -> Record:
    _check_keys(doc, tuple(SOA_FIELDS), where + ": soa")
    values = {**SOA_FIELDS, **doc}
    ns = [rr.data for rr in records if rr.rtype == dm.NS and dm.key(rr.name) == dm.key(origin)]
    mname = _name(values["mname"], origin, where + ": soa.mname") if values["mname"] else (
        ns[0] if ns else join("ns", origin))
    rname = _name(values["rname"] or "hostmaster", origin, where + ": soa.rname")
    numbers = []
    for field_name in ("serial", "refresh", "retry", "expire", "minimum"):
        value = values[field_name] if values[field_name] is not None else ttl
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
            raise ZoneError(f"{where}: soa.{field_name} must be an integer from 0 to 4294967295")
        numbers.append(value)
    return Record(origin, dm.SOA, ttl, SoaData(mname, rname, *numbers))  # type: ignore[arg-type]


def _check_consistency(zone: Zone, where: str) -> None:
    for owner, by_type in zone.rrsets.items():
        if dm.CNAME in by_type:
            if owner == dm.key(zone.origin):
                raise ZoneError(f"{where}: a CNAME at the origin is not allowed (the SOA and NS live there)")
            if len(by_type[dm.CNAME]) > 1 or len(by_type) > 1:
                raise ZoneError(f"{where}: {owner} has a CNAME and other data (a CNAME must stand alone)")
        cut = zone.cut_above(owner)
        if cut is None:
            continue
        extra = set(by_type) - {dm.A, dm.AAAA} - ({dm.NS} if owner == cut else set())
        if extra and owner == cut:
            bad = " ".join(sorted(dm.type_name(t) for t in extra))
            raise ZoneError(f"{where}: {owner} is delegated (NS) and cannot also have {bad}")
        if extra:
            raise ZoneError(f"{where}: {owner} is below the delegation {cut}; only glue (A, AAAA) may be there")


def load_zones(docs) -> list[Zone]:
    """Zones from the "zones" list of a config document."""
    if not isinstance(docs, list):
        raise ZoneError("zones must be a list")
    if len(docs) > MAX_ZONES:
        raise ZoneError(f"more than {MAX_ZONES} zones")
    zones = [load_zone(doc, i) for i, doc in enumerate(docs)]
    seen: set[str] = set()
    for zone in zones:
        if dm.key(zone.origin) in seen:
            raise ZoneError(f"zone {zone.origin or '.'} is defined twice")
        seen.add(dm.key(zone.origin))
    return zones


def reverse_zones(hosts: dict[str, list[str]], ttl: int = DEFAULT_TTL, ns: str | None = None) -> list[dict]:
    """Zone documents with PTR records for {"www.example.lab": ["10.0.1.10", ...]}.

    One zone per IPv4 /24 (1.0.10.in-addr.arpa) and per IPv6 /64 (ip6.arpa);
    ns (an absolute name) becomes each zone's NS record.  Host names are taken
    as absolute.
    """
    zones: dict[str, list[dict]] = {}
    for host, addresses in sorted(hosts.items()):
        target = dm.normalize(host) + "."
        for text in addresses:
            address = ipaddress.ip_address(text)
            labels = address.reverse_pointer.split(".")
            split = 1 if address.version == 4 else 16
            origin = ".".join(labels[split:])
            zones.setdefault(origin, []).append(
                {"name": ".".join(labels[:split]), "type": "PTR", "value": target})
    docs = []
    for origin, records in sorted(zones.items()):
        if ns:
            records = [{"name": "@", "type": "NS", "value": dm.normalize(ns) + "."}, *records]
        docs.append({"origin": origin, "ttl": ttl, "records": records})
    return docs


# -- answering -----------------------------------------------------------------

@dataclass
class Answer:
    rcode: int = dm.NOERROR
    aa: bool = True
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)


class Authority:
    """The zones this server is authoritative for, and the answers from them."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self.zones = {dm.key(z.origin): z for z in zones}

    def zone_for(self, name: str) -> Zone | None:
        """The zone with the longest origin that name is in (None: not ours)."""
        labels = dm.key(name).split(".") if name else []
        for i in range(len(labels) + 1):
            zone = self.zones.get(".".join(labels[i:]))
            if zone is not None:
                return zone
        return None

    def answer(self, q: Question) -> Answer | None:
        zone = self.zone_for(q.name)
        if zone is None:
            return None
        result = Answer()
        name = q.name
        for _ in range(MAX_CHAIN + 1):
            cut = zone.cut_above(name)
            if cut is not None:
                if not result.answers:  # a referral, not an authoritative answer
                    result.aa = False
                    result.authority = list(zone.get(cut, dm.NS))
                break
            by_type = zone.rrsets.get(dm.key(name), {})
            if dm.key(name) not in zone.names:
                result.rcode = dm.NXDOMAIN
                result.authority = [zone.negative_soa()]
                break
            if q.qtype == dm.ANY and by_type:
                result.answers += [rr for rrs in by_type.values() for rr in rrs]
                break
            if q.qtype in by_type or (q.qtype == dm.SOA and dm.key(name) == dm.key(zone.origin)):
                result.answers += [zone.soa] if q.qtype == dm.SOA else by_type[q.qtype]
                break
            if dm.CNAME in by_type:
                link = by_type[dm.CNAME][0]
                result.answers.append(link)
                name = link.data  # type: ignore[assignment]
                next_zone = self.zone_for(name)
                if next_zone is None:  # the target is someone else's: the client resolves on
                    break
                zone = next_zone
                continue
            result.authority = [zone.negative_soa()]  # NODATA
            break
        self._add_addresses(result)
        return result

    def _add_addresses(self, result: Answer) -> None:
        """A/AAAA of MX and NS targets, when we hold them (glue included)."""
        seen = {(dm.key(rr.name), rr.rtype) for rr in result.answers}
        for rr in (*result.answers, *result.authority):
            if rr.rtype == dm.NS:
                target = rr.data
            elif rr.rtype == dm.MX:
                target = rr.data[1]  # type: ignore[index]
            else:
                continue
            zone = self.zone_for(target)  # type: ignore[arg-type]
            if zone is None:
                continue
            for rtype in (dm.A, dm.AAAA):
                if (dm.key(target), rtype) in seen:  # type: ignore[arg-type]
                    continue
                seen.add((dm.key(target), rtype))  # type: ignore[arg-type]
                result.additional += zone.get(target, rtype)  # type: ignore[arg-type]
