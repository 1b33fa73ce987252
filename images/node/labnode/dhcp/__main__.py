"""`python3 -m labnode.dhcp --config FILE`: the DHCP server (labnode.dhcp.server)."""

from labnode.dhcp.server import main

if __name__ == "__main__":
    raise SystemExit(main())
