"""Probes: run one check, print one JSON object, exit 0 (ok) / 1 (failed) / 2 (usage).

    python3 -m labnode.probe ping TARGET [--count N] [--timeout S] [--interval S]
    python3 -m labnode.probe traceroute TARGET [--max-hops N] [--timeout S] [--method udp|icmp|tcp] [--port N]
    python3 -m labnode.probe tcp TARGET PORT|LO-HI[,...] [--timeout S]
    python3 -m labnode.probe http URL [--timeout S] [--contains TEXT] [--status N]
    python3 -m labnode.probe chat HOST [--port N] [--nick N] [--message TEXT]
    python3 -m labnode.probe udp HOST PORT [--count N] [--timeout S]

Every result has "probe", "ok" and, when something went wrong, "error".
Each probe's function returns the result dict, so Python callers (tests,
other in-node programs) can use them without a subprocess.
"""
