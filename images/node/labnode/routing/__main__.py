"""python3 -m labnode.routing --config FILE: run the daemon in the foreground."""
from __future__ import annotations

import argparse
import logging
import sys

from .. import contract
from . import config as config_mod

DEFAULT_CONFIG = contract.ROUTING_CONFIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab-routed", description="Link-state routing daemon.")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"JSON configuration (default {DEFAULT_CONFIG})")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--log-level", choices=config_mod.LOG_LEVELS, help="override the file's log_level")
    args = parser.parse_args(argv)
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        print(f"lab-routed: {exc}", file=sys.stderr)
        return 2
    if args.check:
        ipv6 = f", {len(cfg.prefixes6)} IPv6 prefixes" if cfg.dual_stack else ""
        print(f"{args.config}: OK ({len(cfg.interfaces)} interfaces, {len(cfg.prefixes)} prefixes{ipv6})")
        return 0
    logging.basicConfig(level=(args.log_level or cfg.log_level).upper(), stream=sys.stderr,
                        format="%(asctime)s lab-routed %(levelname)s %(message)s")
    from .daemon import Daemon  # imported late: --check must work anywhere

    try:
        daemon = Daemon(cfg)
    except OSError as exc:
        logging.getLogger("labnode.routing").error("cannot start: %s (needs CAP_NET_ADMIN and CAP_NET_RAW)", exc)
        return 1
    daemon.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
