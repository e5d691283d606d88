"""The image as the Dockerfile defines it, read with Docker's own parser (`dockerfile`, BuildKit's Go
parser): its stages, and what a container of the final stage starts with (environment, entrypoint,
default command, user, health check, the files copied from the build context).

Shared by the tests of this package; no test here. Build arguments resolve to their defaults.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile

from tests.deploy.artifacts import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
_ARGUMENT = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Stage:
    name: str | None
    base: str  # the FROM image, build arguments resolved
    instructions: list[dockerfile.Command] = field(default_factory=list)

    def all(self, command: str) -> list[dockerfile.Command]:
        return [instruction for instruction in self.instructions if instruction.cmd == command.upper()]

    def last(self, command: str) -> dockerfile.Command | None:
        found = self.all(command)
        return found[-1] if found else None


@dataclass(frozen=True)
class ImageConfig:
    """What a container of the final stage starts with."""

    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    user: str
    workdir: str
    healthcheck: list[str]  # the CMD of HEALTHCHECK, exec form
    healthcheck_options: dict[str, str]  # --interval=10s ... as {"interval": "10s"}
    stop_signal: str
    labels: dict[str, str]
    copied: dict[str, Path]  # a path in the image -> the build-context file copied there


def instructions() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def global_arguments() -> dict[str, str]:
    """The ARGs before the first FROM, with their defaults."""
    found: dict[str, str] = {}
    for instruction in instructions():
        if instruction.cmd == "FROM":
            break
        if instruction.cmd == "ARG":
            name, _, default = instruction.value[0].partition("=")
            found[name] = default
    return found


def resolve(text: str, arguments: dict[str, str]) -> str:
    return _ARGUMENT.sub(lambda match: arguments.get(match.group(1) or match.group(2), match.group(0)), text)


def stages() -> list[Stage]:
    arguments = global_arguments()
    found: list[Stage] = []
    for instruction in instructions():
        if instruction.cmd == "FROM":
            words = instruction.value
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(name=name, base=resolve(words[0], arguments)))
        elif found:
            found[-1].instructions.append(instruction)
    return found


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    return {values[index]: values[index + 1].strip('"') for index in range(0, len(values) - 1, 2)}


def _exec_form(instruction: dockerfile.Command | None) -> list[str]:
    if instruction is None:
        return []
    words = list(instruction.value)
    return words if instruction.json else shlex.split(" ".join(words))


def image_config() -> ImageConfig:
    final = stages()[-1]
    env: dict[str, str] = {}
    for instruction in final.all("ENV"):
        env.update(_pairs(instruction.value))
    labels: dict[str, str] = {}
    for instruction in final.all("LABEL"):
        labels.update(_pairs(instruction.value))
    healthcheck = final.last("HEALTHCHECK")
    assert healthcheck is not None and healthcheck.value[0] == "CMD", "the final stage has no HEALTHCHECK CMD"
    options = dict(flag.lstrip("-").split("=", 1) for flag in healthcheck.flags)
    copied: dict[str, Path] = {}
    for instruction in final.all("COPY"):
        if any(flag.startswith("--from=") for flag in instruction.flags):
            continue
        *sources, target = instruction.value
        for source in sources:
            copied[target.rstrip("/") + "/" + Path(source).name if target.endswith("/") else target] = ROOT / source
    user = final.last("USER")
    workdir = final.last("WORKDIR")
    stop_signal = final.last("STOPSIGNAL")
    return ImageConfig(
        env=env, entrypoint=_exec_form(final.last("ENTRYPOINT")), cmd=_exec_form(final.last("CMD")),
        user=user.value[0] if user else "root", workdir=workdir.value[0] if workdir else "/",
        healthcheck=list(healthcheck.value[1:]), healthcheck_options=options,
        stop_signal=stop_signal.value[0] if stop_signal else "SIGTERM", labels=labels, copied=copied,
    )


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether `.dockerignore` `patterns` keep the build-context `path` out, as Docker decides it
    (moby/patternmatcher): each pattern is a Go `filepath.Match` pattern plus `**` (any number of
    directories), matched against the path and each of its parent directories; `!` re-includes; the
    last pattern that matches wins."""
    excluded = False
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        pattern = pattern.strip().strip("/")
        if not pattern:
            continue
        regex = re.compile(_glob_regex(pattern))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def _glob_regex(pattern: str) -> str:
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.index("]", index)
            out.append("[" + pattern[index + 1:end].replace("!", "^", 1) + "]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def dockerignore_patterns() -> list[str]:
    return [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
