"""lab-dns: the lab's own DNS server, authoritative and recursive (standard library only).

    python3 -m labnode.dns.server --config /etc/labnet/dns.json

Modules, from the wire up:

    message   the RFC 1035 wire format: header, questions, records, name
              compression; bounded, every bad input a DnsError
    zone      zones from the JSON config, reverse (PTR) zones, authoritative
              answers: AA, NXDOMAIN/NODATA with SOA, CNAME chasing, referrals
              with glue; no I/O
    resolver  iterative resolution from root hints as generators (no I/O),
              the TTL cache, and Upstream, their driver in a selectors loop
    server    configuration, UDP and TCP in one selectors loop, logging

A lab's DNS is a tree of these servers: one node's holds the root zone ".",
delegating "lab" to another's, which delegates "example.lab" to a third;
a resolver's config has root_hints naming the root node's address.
"""
