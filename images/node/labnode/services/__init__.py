"""The lab services, one module each, run as `python3 -m labnode.services.<module>`.

    type       module          what it does
    http       http            static file server (selectors, keep-alive)
    select     select_server   the classic select() server: logs and echoes
    chat       chat            multi-user chat (see labnode.chatproto)
    udp-echo   udp_echo        echoes datagrams
    stack      labnode.stack   the user-space TCP/IP stack and its apps
                               (--config FILE; see labnode.stack)
    dns        labnode.dns     authoritative DNS and a resolver
                               (--config FILE; see labnode.dns.server)
    dhcp       labnode.dhcp    a DHCP server (--config FILE; see labnode.dhcp.server)
    dhcp-relay labnode.dhcp    a DHCP relay agent, on a router (--config FILE;
                               see labnode.dhcp.relay)
    ra         labnode.radvd   a router's IPv6 router advertisements on one
                               interface (--iface, --prefix; see labnode.radvd)

Every service takes --port and --bind, prints "<type> listening on ADDR:PORT"
when ready, logs one line per event to stdout and exits 0 on SIGTERM (the
stack takes --config instead, and prints one such line per app).
"""

MODULES = {
    "http": "labnode.services.http",
    "select": "labnode.services.select_server",
    "chat": "labnode.services.chat",
    "udp-echo": "labnode.services.udp_echo",
    "stack": "labnode.stack",
    "dns": "labnode.dns.server",
    "dhcp": "labnode.dhcp.server",
    "dhcp-relay": "labnode.dhcp.relay",
    "ra": "labnode.radvd",
}
