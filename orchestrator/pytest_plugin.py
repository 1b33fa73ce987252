"""pytest plugin: labs as fixtures, expectations as tests (entry point `labnet`).

    @pytest.mark.lab("labs/five-subnets", name="ci-five")   # scope="session" | "module"
    def test_gateway(lab):
        assert lab.probe("pc1", "ping", "pc6")["ok"]
        assert lab.host("pc1").interface("eth0").addresses == ["192.168.1.10"]

    def test_expectation(lab, lab_check):       # one test per expectation of the lab
        result = lab.check(lab_check)
        assert result.ok, result.message

    pytest --lab labs/five-subnets              # each expectation as its own test

A lab is deployed the first time a test needs it and destroyed when its
scope ends (the session by default, or the module with scope="module"),
whether its tests passed or not; `--lab-keep` leaves it running and
`--lab-reuse` uses a copy that is already deployed (and leaves it alone).
Nothing heavy is imported until a lab is used (only the error classes), so the plugin
costs nothing in test runs that do not use it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import BackendError, UsageError

if TYPE_CHECKING:
    from .backend.protocol import Backend, ExecResult
    from .plan import Check, Plan, PlanNode
    from .verify.runner import Result

_KEY = pytest.StashKey["LabManager"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labnet", "labnet network labs")
    group.addoption("--lab", action="append", default=[], metavar="PATH",
                    help="deploy the lab in PATH for the session and run each of its expectations as a test")
    group.addoption("--lab-name", metavar="NAME", help="deploy the --lab lab(s) under this name")
    group.addoption("--lab-reuse", action="store_true",
                    help="use labs that are already deployed (and leave them running)")
    group.addoption("--lab-keep", action="store_true", help="do not destroy the labs after the tests")
    parser.addini("labnet_labs", "labs whose expectations run as tests (like --lab)", type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab(path, name=None, scope='session', reuse=False): deploy the lab in PATH for "
        "the `lab` fixture (and `lab_check` parameters); destroyed when the scope ends")
    config.stash[_KEY] = LabManager(config)
    for path in _session_labs(config):  # collect their lab.yml as test files
        if str(path) not in config.args:
            config.args.append(str(path))


def pytest_unconfigure(config: pytest.Config) -> None:
    manager = config.stash.get(_KEY, None)
    if manager is not None:
        manager.release_all()


def _session_labs(config: pytest.Config) -> list[Path]:
    out = []
    for raw in [*(config.getoption("lab", default=[]) or []), *config.getini("labnet_labs")]:
        p = Path(raw)
        p = p if p.is_absolute() else Path(config.invocation_params.dir) / p
        out.append((p / "lab.yml" if p.is_dir() else p).resolve())
    return out


@dataclass(frozen=True)
class LabSpec:
    path: Path
    name: str | None = None
    scope: str = "session"
    reuse: bool = False


def _spec_for(config: pytest.Config, marker: pytest.Mark | None, near: Path | None) -> LabSpec:
    if marker is None:
        labs = _session_labs(config)
        if not labs:
            raise pytest.UsageError("the `lab` fixture needs a lab: mark the test with "
                                    "@pytest.mark.lab('labs/NAME') or run pytest with --lab PATH")
        return LabSpec(labs[0], config.getoption("lab_name"), "session", config.getoption("lab_reuse"))
    if not marker.args:
        raise pytest.UsageError("@pytest.mark.lab needs the lab's folder: @pytest.mark.lab('labs/NAME')")
    raw = Path(marker.args[0])
    candidates = [raw] if raw.is_absolute() else [
        *([near.parent / raw] if near else []), config.rootpath / raw, Path.cwd() / raw]
    path = next((c for c in candidates if c.exists()), candidates[0])
    scope = marker.kwargs.get("scope", "session")
    if scope not in ("session", "module"):
        raise pytest.UsageError(f"@pytest.mark.lab scope must be 'session' or 'module', not {scope!r}")
    return LabSpec(path.resolve(), marker.kwargs.get("name"), scope,
                   bool(marker.kwargs.get("reuse", config.getoption("lab_reuse"))))


class Lab:
    """A deployed lab, as tests see it: its plan, and what can be done in its nodes."""

    def __init__(self, name: str, path: Path, plan: Plan, backend: Backend, owned: bool):
        self.name, self.path, self.plan, self.backend, self.owned = name, path, plan, backend, owned

    def __repr__(self) -> str:
        return f"<Lab {self.name} from {self.path}>"

    def node(self, node: str) -> PlanNode:
        """The node's plan (interfaces, addresses, routes, container name)."""
        if node not in self.plan.nodes:
            raise UsageError(f"lab {self.name} has no node '{node}' (nodes: {', '.join(self.plan.nodes)})")
        return self.plan.nodes[node]

    def address(self, ref: str) -> str:
        """'pc1' (its first address), 'r1.eth1' or an address -> the address."""
        found, problem = self.plan.addresses_of(ref)
        if problem:
            raise UsageError(f"{ref}: {problem}")
        return found[0]

    def exec(self, node: str, *argv: str) -> ExecResult:
        """Run a command in a node: an ExecResult (exit_code, stdout, stderr)."""
        self.node(node)
        return self.backend.exec(self.name, node, list(argv))

    def probe(self, node: str, kind: str, *args: Any) -> dict[str, Any]:
        """`lab-probe KIND ARGS` in NODE: its JSON result. A target written as
        a node name (or node.iface) is replaced by its address."""
        from .verify.probes import ProbeError, Prober
        words = [str(a) for a in args]
        if words and kind in ("ping", "traceroute", "tcp", "udp", "chat") and not words[0].startswith("-"):
            try:
                words[0] = self.address(words[0])
            except UsageError:
                pass  # an address or name the node resolves itself
        try:
            return Prober(self.backend, self.plan).probe(node, [kind, *words])
        except ProbeError as exc:
            raise BackendError(str(exc)) from None

    def host(self, node: str) -> Any:
        """A testinfra host for the node (testinfra's docker:// backend)."""
        import testinfra

        from .backend.dockerengine import docker_cli
        cli = docker_cli()  # testinfra runs `docker` from PATH: use the client matching the engine
        if shutil.which("docker") != cli:
            os.environ["PATH"] = os.path.dirname(cli) + os.pathsep + os.environ.get("PATH", "")
        return testinfra.get_host(f"docker://{self.node(node).container}")

    @property
    def checks(self) -> list[Check]:
        """The lab's checks (its expect: section, resolved)."""
        return list(self.plan.checks)

    def check(self, check: Check) -> Result:
        """Run one Check (from `lab_check` or `lab.checks`): its Result."""
        return self.test([check])[0]

    def test(self, checks: list[Check] | None = None, workers: int = 8) -> list[Result]:
        from .verify.runner import run_checks
        return run_checks(self.backend, self.plan, checks, workers=workers)


class LabManager:
    """Deploys each lab once per scope; destroys what it deployed."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.labs: dict[tuple[Path, str | None], tuple[Lab, LabSpec, str]] = {}
        self.failed: dict[tuple[Path, str | None], str] = {}
        self._backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from .lab import default_backend
            self._backend = default_backend()
        return self._backend

    def get(self, spec: LabSpec, owner: str = "") -> Lab:
        key = (spec.path, spec.name)
        if key in self.failed:
            pytest.fail(f"lab {spec.path} could not be deployed earlier: {self.failed[key]}", pytrace=False)
        if key not in self.labs:
            from . import lab as api
            from .errors import LabError
            try:
                name = spec.name or api.plan_lab(spec.path)[0].lab
                if spec.reuse and self.backend.nodes(name):
                    lab = Lab(name, spec.path, api.attach(name, self.backend).plan, self.backend, False)
                else:
                    if self.backend.nodes(name):
                        raise LabError(f"lab '{name}' is already deployed; run 'lab destroy {name}', "
                                       "or use it as it is with --lab-reuse (or reuse=True on the marker)")
                    plan = api.deploy(spec.path, name=name, backend=self.backend).plan
                    lab = Lab(name, spec.path, plan, self.backend, True)
            except LabError as exc:
                self.failed[key] = str(exc)
                pytest.fail(f"cannot deploy {spec.path}: {exc}", pytrace=False)
            self.labs[key] = (lab, spec, owner)
        return self.labs[key][0]

    def release(self, owner: str | None = None) -> None:
        for key, (lab, spec, who) in list(self.labs.items()):
            if owner is None or (spec.scope == "module" and who == owner):
                del self.labs[key]
                if lab.owned and not self.config.getoption("lab_keep"):
                    from .lab import destroy
                    destroy(lab.name, backend=self.backend)

    def release_all(self) -> None:
        self.release(None)


def _manager(config: pytest.Config) -> LabManager:
    return config.stash[_KEY]


@pytest.fixture(scope="module")
def _labnet_module(request: pytest.FixtureRequest) -> Iterator[str]:
    """Destroys the labs deployed with scope='module' when the module ends."""
    yield request.node.nodeid
    _manager(request.config).release(owner=request.node.nodeid)


@pytest.fixture
def lab(request: pytest.FixtureRequest, _labnet_module: str) -> Lab:
    """The lab of the test's `@pytest.mark.lab(...)` (or of --lab), deployed once per scope."""
    spec = _spec_for(request.config, request.node.get_closest_marker("lab"), getattr(request.node, "path", None))
    return _manager(request.config).get(spec, owner=_labnet_module if spec.scope == "module" else "")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`lab_check` parameters: one test per expectation of the test's lab."""
    if "lab_check" not in metafunc.fixturenames:
        return
    from .lab import plan_lab
    spec = _spec_for(metafunc.config, metafunc.definition.get_closest_marker("lab"), metafunc.definition.path)
    checks = plan_lab(spec.path, spec.name)[0].checks
    metafunc.parametrize("lab_check", checks, ids=[c.title for c in checks])


# --- `pytest --lab PATH`: the lab file's expectations as collected tests -----

class CheckFailed(Exception):
    def __init__(self, result: Result):
        super().__init__(result.message)
        self.result = result


class LabFile(pytest.File):
    results: dict[str, Result] | None = None

    def collect(self) -> Iterator[LabCheckItem]:
        from .lab import plan_lab
        self.spec = LabSpec(self.path, self.config.getoption("lab_name"), "session",
                            self.config.getoption("lab_reuse"))
        for check in plan_lab(self.path, self.spec.name)[0].checks:
            yield LabCheckItem.from_parent(self, name=check.title, check=check)


class LabCheckItem(pytest.Item):
    def __init__(self, *, check: Check, **kwargs: Any):
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        parent = self.parent
        if not isinstance(parent, LabFile):
            raise pytest.UsageError("a lab check belongs to a lab file")
        results = parent.results
        if results is None:  # the first of the file's selected checks runs them all, in parallel
            lab = _manager(self.config).get(parent.spec)
            mine = [i.check for i in self.session.items if isinstance(i, LabCheckItem) and i.parent is parent]
            results = parent.results = {r.id + r.what: r for r in lab.test(mine)}
        result = (results.get(self.check.id + self.check.title)
                  or _manager(self.config).get(parent.spec).check(self.check))
        if not result.ok:
            raise CheckFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailed):
            r = excinfo.value.result
            lines = [f"{r.what}  ({r.id})", f"  from {r.src} to {r.dst}", f"  expected: {r.expected}",
                     f"  got:      {r.got}"]
            return "\n".join(lines + ([f"  {r.detail}"] if r.detail else []))
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.path, None, f"{self.check.id}: {self.check.title}"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> LabFile | None:
    if file_path.name.endswith((".yml", ".yaml")) and file_path.resolve() in _session_labs(parent.config):
        return LabFile.from_parent(parent, path=file_path)
    return None
