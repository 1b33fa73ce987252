"""labnode: the programs that run inside lab nodes.

Standard library only (the nodes have python3 and nothing else).  Copied into
the node image at /opt/labnet/labnode with PYTHONPATH=/opt/labnet.

Entry points:

    python3 -m labnode.supervisor --config FILE --logdir DIR   run the services
    python3 -m labnode.services.<name> --port N [--bind ADDR]  one service
    python3 -m labnode.chat_client HOST --nick N               chat client
    python3 -m labnode.probe <kind> ...                        one JSON result
"""

__version__ = "0.1.0"
