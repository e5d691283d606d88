"""Compose's Seawall services as local processes: each replica started with the command, environment,
secrets and health check deploy/compose.yaml and the image give it, on loopback.

What stands in for what a container would have:
- the image: the Dockerfile's ENTRYPOINT `seawall` is this interpreter's `-m seawall`; a program the
  Dockerfile copies into the image (`seawall-healthcheck`) is run from its build-context file; the
  image's ENV is applied, except PATH (the image's own directories) and SEAWALL_VAR_DIR (a directory
  per replica);
- the network: every (service, container port) is a free loopback port per replica, and a bind address
  (`0.0.0.0`) is 127.0.0.1. A reference to another service — a URL `scheme://name:port`, or `X_HOST`
  naming a service with its `X_PORT` — points at that service's loopback port; the backing servers the
  test provides (`stand_ins`) are given their own addresses;
- secrets: `/run/secrets/<name>` (or a long-syntax target) in a `*_FILE` value is the test's file for
  that secret, and only if the service mounts it.
A value that still names a compose service after this fails the test (`unmapped`): it would have
reached nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deploy import compose_file
from tests.deploy.image import ImageConfig
from tests.support.server import REPO_ROOT, SeawallProcess, free_port, recording_environment

LOOPBACK = "127.0.0.1"
BIND_ADDRESSES = ("0.0.0.0", "127.0.0.1", "localhost")
# (host variable, port variable) pairs a process binds to itself.
BIND_SETTINGS = (("SEAWALL_HOST", "SEAWALL_PORT"), ("SEAWALL_METRICS_HOST", "SEAWALL_METRICS_PORT"))
PORT_OPTIONS = ("--port", "--smtp-port")
HEALTH_POLL_SECONDS = 0.5  # each check starts an interpreter: sooner would take CPU from the processes starting
_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<host>[A-Za-z0-9_.-]+):(?P<port>\d+)")


@dataclass
class Network:
    """Loopback ports standing in for compose's network. `stand_ins`: {service: {container port: local
    port}} for services the test provides itself (the backing servers, the collector)."""

    services: set[str]
    stand_ins: dict[str, dict[int, int]] = field(default_factory=dict)
    ports: dict[tuple[str, int, int], int] = field(default_factory=dict)

    def port(self, service: str, container_port: int, replica: int = 0) -> int:
        if service in self.stand_ins:
            return self.stand_ins[service][container_port]
        key = (service, container_port, replica)
        if key not in self.ports:
            self.ports[key] = free_port()
        return self.ports[key]

    def references(self, text: str) -> str:
        """`text` with each URL to a compose service pointed at its loopback port."""
        def point(match: re.Match[str]) -> str:
            host = match.group("host")
            if host not in self.services:
                return match.group(0)
            return f"{match.group('scheme')}{LOOPBACK}:{self.port(host, int(match.group('port')))}"

        return _URL.sub(point, text)

    def unmapped(self, text: str) -> list[str]:
        names = {match.group("host") for match in _URL.finditer(text)} | {text}
        return sorted(names & self.services)


@dataclass
class Replica:
    service: str
    index: int
    argv: list[str]
    env: dict[str, str]
    healthcheck: list[str] | None  # the command, or None: no health check (disabled)
    stop_grace_seconds: float
    process: SeawallProcess | None = None

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index + 1}"

    def start(self, log_dir: Path) -> SeawallProcess:
        log_path = log_dir / f"{self.name}.log"
        with open(log_path, "wb") as log_file:
            popen = subprocess.Popen(self.argv, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
        self.process = SeawallProcess(role=self.name, process=popen, log_path=log_path)
        return self.process

    def healthy(self) -> bool:
        assert self.healthcheck is not None
        result = subprocess.run(self.healthcheck, env=self.env, capture_output=True, timeout=10, cwd=REPO_ROOT)
        return result.returncode == 0

    def wait_healthy(self, timeout: float) -> None:
        """Run the health check (as Compose does, only more often) until it passes."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.process.returncode}:\n"
                                     f"{self.process.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} was not healthy within {timeout} s:\n{self.process.log()[-4000:]}")
            time.sleep(HEALTH_POLL_SECONDS)


@dataclass
class LocalStack:
    """Builds the replicas of compose's Seawall services. `secrets`: {secret name: the test's file};
    `extra_env`: what every process gets on top (the test's isolation: key and queue prefixes)."""

    compose: dict[str, Any]
    image: ImageConfig
    network: Network
    secrets: dict[str, Path]
    var_root: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def replicas(self, name: str) -> list[Replica]:
        service = self.compose["services"][name]
        return [self._replica(name, service, index) for index in range(compose_file.replicas(service))]

    def _replica(self, name: str, service: Mapping[str, Any], index: int) -> Replica:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("SEAWALL_", "OTEL_"))}
        given = {key: value for key, value in self.image.env.items() if key != "PATH"}
        given.update(compose_file.environment(service))
        var_dir = self.var_root / f"{name}-{index + 1}"
        var_dir.mkdir(parents=True, exist_ok=True)
        given["SEAWALL_VAR_DIR"] = str(var_dir)
        env.update(self._localized(name, index, given, compose_file.mounted_secrets(service)))
        env.update(recording_environment())
        env.update(self.extra_env)
        command = service.get("command") or self.image.cmd
        argv = [*self._program(self.image.entrypoint), *self._arguments(name, index, list(command))]
        for key, value in env.items():
            assert not self.network.unmapped(value), f"{name}: {key}={value!r} names a compose service left unmapped"
        return Replica(service=name, index=index, argv=argv, env=env,
                       healthcheck=self._healthcheck(name, index, service),
                       stop_grace_seconds=compose_file.seconds(service.get("stop_grace_period", "10s")))

    def _localized(self, name: str, index: int, given: dict[str, str], mounted: dict[str, str]) -> dict[str, str]:
        env = dict(given)
        for host_key, port_key in BIND_SETTINGS:
            if env.get(host_key) in BIND_ADDRESSES:
                env[host_key] = LOOPBACK
            if env.get(port_key):
                env[port_key] = str(self.network.port(name, int(env[port_key]), index))
        for key, value in given.items():
            if key.endswith("_HOST") and value in self.network.services:
                env[key] = LOOPBACK
                port_key = key.removesuffix("_HOST") + "_PORT"
                env[port_key] = str(self.network.port(value, int(given[port_key])))
            elif key.endswith("_FILE") and value.startswith("/"):
                assert value in mounted, f"{name}: {key} names {value}, which the service does not mount"
                env[key] = str(self.secrets[mounted[value]])
            elif key not in env or env[key] == value:
                env[key] = self.network.references(value)
        return env

    def _arguments(self, name: str, index: int, arguments: list[str]) -> list[str]:
        localized = list(arguments)
        for position, argument in enumerate(arguments[:-1]):
            if argument == "--host" and arguments[position + 1] in BIND_ADDRESSES:
                localized[position + 1] = LOOPBACK
            elif argument in PORT_OPTIONS:
                localized[position + 1] = str(self.network.port(name, int(arguments[position + 1]), index))
        return localized

    def _program(self, words: list[str]) -> list[str]:
        """The image's program as a local command: `seawall`, or a file the Dockerfile copied."""
        program, *rest = words
        if program == "seawall":
            return [sys.executable, "-m", "seawall", *rest]
        copied = self.image.copied.get(program) or next(
            (source for target, source in self.image.copied.items() if Path(target).name == program), None)
        assert copied is not None, f"{program} is neither `seawall` nor a file the Dockerfile copies"
        return [sys.executable, str(copied), *rest]

    def _healthcheck(self, name: str, index: int, service: Mapping[str, Any]) -> list[str] | None:
        check = service.get("healthcheck") or {}
        if check.get("disable"):
            return None
        test = list(check.get("test") or ["CMD", *self.image.healthcheck])
        assert test[0] == "CMD", f"{name}: a Seawall health check runs in exec form (the image has no shell tools)"
        own = re.compile(r"//(?:127\.0\.0\.1|localhost):(\d+)")
        arguments = [own.sub(lambda match: f"//{LOOPBACK}:{self.network.port(name, int(match.group(1)), index)}", word)
                     for word in test[2:]]
        return [*self._program([test[1]]), *arguments]
