"""Shared setup for the routing daemon tests: import path and markers."""
import pathlib
import sys

NODE = pathlib.Path(__file__).resolve().parents[3] / "images" / "node"
HERE = pathlib.Path(__file__).resolve().parent
for path in (str(NODE), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "netns: needs root and `ip netns`; runs real daemons in throw-away network namespaces")
