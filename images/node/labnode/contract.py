"""The node contract, as the programs inside a node see it: where their
configuration and logs are, and what a service prints once it is ready.

The orchestrator has the same facts in orchestrator/contract.py;
tests/unit/test_contract.py holds the two sides equal.
"""

CONFIG_DIR = "/etc/labnet"
SERVICES_CONFIG = CONFIG_DIR + "/services.json"   # read by the supervisor (labnode.svconfig)
ROUTING_CONFIG = CONFIG_DIR + "/routing.json"     # read by the routing daemon (labnode.routing.config)
ROUTER_NAMES = CONFIG_DIR + "/routers.json"       # {"router id or address": "node name"}, read by its CLI
LOG_DIR = "/var/log/labnet"                       # <service>.log, supervisor.log, status.json
STATUS_FILE = LOG_DIR + "/status.json"            # the supervisor's view of its services
SUPERVISOR_PIDFILE = "/run/labnet-supervisor.pid"

#: a service prints "<type> listening on ADDR:PORT" once it accepts connections
READY_LINE = "listening on"
