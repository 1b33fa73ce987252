"""The lease table as the server last saved it: `python3 -m labnode.dhcp.cli leases`.

    $ python3 -m labnode.dhcp.cli leases
    address      mac                hostname  state     expires
    10.0.1.100   02:00:00:00:00:01  pc1       bound     in 3412 s
    10.0.1.101   02:00:00:00:00:02  -         released  -

--json prints the rows as a JSON list (expires_in: seconds, negative once
past); --file reads another lease file than the server's default.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from labnode.dhcp.leases import Lease, LeaseFileError, Leases
from labnode.dhcp.server import DEFAULT_LEASE_FILE


def rows(table: list[Lease], now: float) -> list[dict]:
    return [{"address": str(lease.address), "mac": lease.mac, "hostname": lease.hostname,
             "state": lease.state, "expires_in": round(lease.expires - now)}
            for lease in sorted(table, key=lambda x: x.address)]


def expires_text(row: dict) -> str:
    if row["state"] not in ("bound", "declined"):
        return "-"
    seconds = row["expires_in"]
    return f"in {seconds} s" if seconds >= 0 else f"{-seconds} s ago"


def render(table: list[dict]) -> str:
    header = ["address", "mac", "hostname", "state", "expires"]
    lines = [[r["address"], r["mac"] or "-", r["hostname"] or "-", r["state"], expires_text(r)]
             for r in table]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in [header, *lines])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dhcp-cli", description="the DHCP server's lease table")
    sub = parser.add_subparsers(dest="command", required=True)
    leases_cmd = sub.add_parser("leases", help="print the lease table")
    leases_cmd.add_argument("--json", action="store_true", help="JSON instead of a table")
    leases_cmd.add_argument("--file", default=DEFAULT_LEASE_FILE,
                            help=f"the lease file (default {DEFAULT_LEASE_FILE})")
    args = parser.parse_args(argv)
    table = Leases()
    try:
        table.load(args.file)
    except LeaseFileError as exc:
        print(f"dhcp-cli: {exc}", file=sys.stderr)
        return 1
    out = rows(list(table.table.values()), time.time())
    print(json.dumps(out, indent=1) if args.json else render(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
