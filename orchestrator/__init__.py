"""labnet: containerised real-network labs.

The flow of data, one module per stage::

    lab.yml --load--> Topology --plan--> Plan --render--> files --deploy--> Backend

`orchestrator.lab` is the facade the CLI (and the pytest plugin) call.
"""

from pathlib import Path

__version__ = "0.1.0"

#: Root of the project checkout: images/, templates/ and labs/ live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Prefix of every Docker label and object name this project creates.
PROJECT = "labnet"
