"""A user-space TCP/IP stack on a TAP device, standard library only.

One module per protocol, each with its header layout in its docstring:
ethernet, arp, ipv4, icmp, udp, tcp (+ congestion: RTO and RFC 5681).
core.Stack ties them to a TAP file descriptor (tap.py) with an event loop
and timers; apps.py holds the applications that run on it (TCP echo, UDP
echo, an HTTP server, an HTTP GET client); control.py and cli.py are the
inspection socket and its command line; __main__.py is the program
(`python3 -m labnode.stack --config FILE`).  docs/user-stack.md describes
it all.
"""
