"""DHCP for the lab nodes (RFC 2131/2132), standard library only.

    message   the DHCP/BOOTP message and its options: bytes <-> DhcpMessage
    leases    pools, reservations, the lease table and its JSON file
    server    the server: `python3 -m labnode.dhcp.server --config FILE`
              (also `python3 -m labnode.dhcp --config FILE`)
    relay     the relay agent: `python3 -m labnode.dhcp.relay --config FILE`
    cli       `python3 -m labnode.dhcp.cli leases [--json] [--file F]`
"""
