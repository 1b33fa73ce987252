"""lab-routed: a small link-state routing daemon (think OSPF, readable).

    python3 -m labnode.routing --config /etc/labnet/routing.json   the daemon
    python3 -m labnode.routing.cli neighbors|lsdb|routes|stats     inspection

Dual-stack like IS-IS single topology: the protocol itself speaks IPv4 only
(UDP to a link-local multicast group and to neighbours' link addresses), one
adjacency per link carries both families, and one SPF over one graph gives
the routes of both.  A hello carries the sending interface's global IPv6
address (`address6`): that is the IPv6 next hop through that neighbour.  An
LSA carries the router's IPv6 prefixes beside its IPv4 ones.  Packets with
IPv6 fields are wire version 2, the others version 1 (an IPv4-only router
sends exactly what it always did); routes of both families go into the
kernel over rtnetlink with the same protocol number, table and metric.

Modules, from the wire up:

    addr      IPv4 ids and prefixes, IPv6 addresses and prefixes, as integers
    lsa       link-state advertisements, their ordering, the aged LSDB
    packet    the binary wire format (versions 1 and 2), optional HMAC-SHA256
    spf       Dijkstra over the LSDB (pure functions); prefixes of both families
    config    the JSON configuration file
    state     neighbours, ports, routes (plain records)
    flooding  reliable flooding: LSUs, acknowledgements, retransmission
    table     SPF's first hops -> next hops (gateway, interface), per family
    router    the protocol engine: hellos, adjacencies, origination, SPF; no I/O
    netlink   rtnetlink routes (AF_INET, AF_INET6) and link events over a plain socket
    control   the unix control socket and its JSON views
    daemon    sockets, signals, kernel routes around the router
    cli       the inspection client

Standard library only.  See docs/routing.md.
"""
