"""python3 -m labnode.stack --config FILE

Opens (or creates) the TAP named in the config, starts the apps, prints one
"<app> listening on ADDR:PORT" line per app once it is ready (and "stack
listening on SOCKET" for the control socket), and serves until SIGTERM or
SIGINT, which close the control socket and the TAP and exit 0.  A bad
config or a TAP that cannot be opened is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import sys

from labnode import contract, netutil

from . import apps, config, core, ethernet, tap
from .control import ControlServer


def build(cfg: config.Config, device) -> tuple[core.Stack, list]:
    loss = core.Loss(cfg.loss_every, cfg.loss_p, cfg.loss_seed, cfg.loss_direction)
    stack = core.Stack(device, cfg.mac, cfg.interface, gateway=cfg.gateway, routes=cfg.routes, loss=loss,
                       mtu=cfg.mtu, rto_min=cfg.rto_min, time_wait=cfg.time_wait)
    running: list = []
    for app in cfg.apps:
        if app.type == "http":
            running.append(apps.HttpServer(stack, app.port, app.root or "/"))
        elif app.type == "echo":
            running.append(apps.TcpEcho(stack, app.port))
        else:
            running.append(apps.UdpEcho(stack, app.port))
    return stack, running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m labnode.stack",
                                     description="a user-space TCP/IP stack on a TAP device")
    parser.add_argument("--config", required=True, help="the JSON configuration file")
    args = parser.parse_args(argv)
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"stack: {exc}", file=sys.stderr, flush=True)
        return 1

    def serve() -> None:
        device = tap.Tap(cfg.tap)
        control = None
        try:
            try:
                stack, _running = build(cfg, device)
            except FileNotFoundError as exc:  # an http root that is not there
                raise OSError(str(exc)) from None
            control = ControlServer(stack, cfg.control_socket)
            netutil.log(f"stack on {cfg.tap} ({ethernet.mac_text(cfg.mac)}) as {cfg.interface}"
                        f"{', gateway ' + cfg.gateway if cfg.gateway else ''}"
                        f"{', loss ' + str(stack.loss.describe()) if stack.loss.active else ''}")
            netutil.log(f"stack {contract.READY_LINE} {cfg.control_socket}")
            stack.start()
            stack.run(extra=[(control.sock, control.accept)])
        finally:
            if control is not None:
                control.close()
            device.close()

    return netutil.run("stack", serve)


if __name__ == "__main__":
    raise SystemExit(main())
