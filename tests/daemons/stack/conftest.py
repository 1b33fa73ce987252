"""Shared setup for the user-space stack tests: import path and markers."""
import pathlib
import sys

sys.dont_write_bytecode = True  # keep images/node free of __pycache__ (it is the image's build context)
NODE = pathlib.Path(__file__).resolve().parents[3] / "images" / "node"
HERE = pathlib.Path(__file__).resolve().parent
for path in (str(NODE), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "netns: needs root and `ip netns`; runs the stack in throw-away network namespaces")
