"""The lab services, one module each, run as `python3 -m labnode.services.<module>`.

    type       module          what it does
    http       http            static file server (selectors, keep-alive)
    select     select_server   the classic select() server: logs and echoes
    chat       chat            multi-user chat (see labnode.chatproto)
    udp-echo   udp_echo        echoes datagrams

Every service takes --port and --bind, prints "<type> listening on ADDR:PORT"
when ready, logs one line per event to stdout and exits 0 on SIGTERM.
"""

MODULES = {
    "http": "labnode.services.http",
    "select": "labnode.services.select_server",
    "chat": "labnode.services.chat",
    "udp-echo": "labnode.services.udp_echo",
}
