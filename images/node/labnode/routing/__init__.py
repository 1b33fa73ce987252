"""lab-routed: a small link-state routing daemon (think OSPF, readable).

    python3 -m labnode.routing --config /etc/labnet/routing.json   the daemon
    python3 -m labnode.routing.cli neighbors|lsdb|routes|stats     inspection

Modules, from the wire up:

    addr      IPv4 ids and prefixes as integers
    lsa       link-state advertisements, their ordering, the aged LSDB
    packet    the binary wire format, optional HMAC-SHA256
    spf       Dijkstra over the LSDB (pure functions)
    config    the JSON configuration file
    state     neighbours, ports, routes (plain records)
    flooding  reliable flooding: LSUs, acknowledgements, retransmission
    table     SPF's first hops -> next hops (gateway, interface)
    router    the protocol engine: hellos, adjacencies, origination, SPF; no I/O
    netlink   rtnetlink routes and link events over a plain socket
    control   the unix control socket and its JSON views
    daemon    sockets, signals, kernel routes around the router
    cli       the inspection client

Standard library only.  See docs/routing.md.
"""
