"""python3 -m labnode.stack.get [--control PATH] [--output FILE] [--timeout S] [--json] URL

An HTTP GET from the user-space stack's host: the running stack process
does the GET (on its own TCP, through its TAP) when asked over the control
socket, and this command prints its result:

    ok 200 5242880 bytes sha256 9f86d0... in 1.234s (retransmits 3)

or, with --json, the result object {ok, url, status, bytes, sha256,
seconds, error, tcp}.  --output names a file the stack process writes the
body to (a path inside the node); without it the body is only counted and
hashed.  Exit status 0 if the GET succeeded (2xx, complete body), 1 if not
(the reason on stderr), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys

from .cli import CliError, ask
from .config import DEFAULT_SOCKET


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m labnode.stack.get",
                                     description="HTTP GET through the running user-space stack")
    parser.add_argument("url", help="http://IPV4[:PORT]/PATH")
    parser.add_argument("--control", default=DEFAULT_SOCKET, help=f"control socket (default {DEFAULT_SOCKET})")
    parser.add_argument("--output", help="file the stack writes the body to (default: discard)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole GET (default 60)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if not 0 < args.timeout <= 3600:
        parser.error("--timeout must be in (0, 3600]")
    request = {"command": "get", "url": args.url, "timeout": args.timeout}
    if args.output:
        request["output"] = args.output
    try:
        result = ask(args.control, request, timeout=args.timeout + 5)
    except CliError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    if not isinstance(result, dict):
        print("stack: unexpected answer shape", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    elif result.get("ok"):
        tcp = result.get("tcp") or {}
        print(f"ok {result['status']} {result['bytes']} bytes sha256 {result['sha256']} in {result['seconds']}s "
              f"(retransmits {tcp.get('retransmits', 0)})")
    if not result.get("ok"):
        print(f"stack: GET {args.url} failed: {result.get('error')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
