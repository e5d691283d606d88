"""Promise (issue 12, Deliver 2): whatever schemathesis generates from the live `/openapi.json` — valid
and invalid parameters, bodies and headers, for every operation mounted at run time — a `seawall api`
process answers with a status the operation declares, its declared content type and body schema, never
a 5xx, and every 4xx in the one error shape. On PostgreSQL (and the embedded SQLite file with
`SEAWALL_FUZZ_BACKENDS=sqlite,postgres`), as a signed-up user (a bearer session from a real sign-up and
login) on /v1 and with the operator key on /admin.

The run is sized by `--fuzz-requests` / `SEAWALL_FUZZ_REQUESTS` (`tests.support.fuzzing`; 1,000 by
default, shared by the backends it runs on) and fails when it sent fewer. Generation is deterministic
(fixed Hypothesis seeds, no example database), so a failure replays on the next run; each failure
prints the request as a curl command. Every failure found so far is a plain regression test in
`tests/fuzz/test_fuzz_findings.py`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.schemas import APIOperation, BaseSchema

from tests.conftest import ADMIN_KEY, BACKENDS
from tests.integration.accounts.wire import ERROR_FIELDS, STRONG_PASSWORD, bearer, new_email, new_key
from tests.support.fuzzing import REPORT_PROPERTY, fuzz_backends, requested_total
from tests.support.server import ServerFactory

FUZZ_BACKENDS = fuzz_backends()
# The limits stay on (their 429s are part of the contract) but far above what the run sends, so the
# fuzzer explores the routes instead of collecting 429s.
SERVER_ENV = {"SEAWALL_RATE_LIMIT_SCALE": "100000", "SEAWALL_LOG_LEVEL": "WARNING"}
REQUEST_TIMEOUT_SECONDS = 30
MAX_PASSES = 5
# The built-in checks this promise is about (`one_error_shape` below is ours): no 5xx; the status,
# content type, headers and body the operation declares; invalid input (per the schema) refused, a
# missing required header refused; an operation that declares auth refuses a request without it.
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance, schemathesis.checks.response_schema_conformance,
          schemathesis.checks.response_headers_conformance, schemathesis.checks.negative_data_rejection,
          schemathesis.checks.missing_required_header, schemathesis.checks.ignored_auth]


@dataclass
class FuzzTarget:
    """One `seawall api` process, the credentials the fuzzer sends, and what it sent."""

    base_url: str
    email: str
    user_token: str
    budget: int  # requests this backend's run sends at least
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    # Ids of the resources the run created or listed, by the path (template) that answered them.
    known_ids: dict[str, list[str]] = field(default_factory=dict)
    on_existing_resources: int = 0  # operations fuzzed again on ids in `known_ids`
    session_renewals: int = 0

    def keep_session(self, response: Response, headers: dict[str, str]) -> None:
        """After a 401 to the shared session, log in again if the session no longer works (an operation
        that revokes sessions succeeded), so the rest of the run still explores as a user."""
        if response.status_code != 401 or headers.get("Authorization") != f"Bearer {self.user_token}":
            return
        if httpx.get(f"{self.base_url}/v1/me", headers=bearer(self.user_token), timeout=30).status_code == 401:
            self.user_token = log_in(self.base_url, self.email)
            self.session_renewals += 1

    def record(self, case: Case, response: Response) -> None:
        """Count the answer, and keep the ids a 2xx JSON answer names (`id`, or `data[].id` of a page)."""
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if not 200 <= response.status_code < 300 or "json" not in response.headers.get("content-type", [""])[0]:
            return
        body = response.json()
        items = body.get("data") if isinstance(body, dict) and isinstance(body.get("data"), list) else [body]
        ids = self.known_ids.setdefault(case.path, [])
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str | int) and str(item["id"]) not in ids:
                ids.append(str(item["id"]))

    def existing_path_parameters(self, operation: APIOperation) -> dict[str, str] | None:
        """Ids of existing resources for every path parameter (REST layout: `{x}` is an id that the
        path before it answered), or None when one of them has no id yet."""
        chosen: dict[str, str] = {}
        for match in re.finditer(r"/\{([^}]+)\}", operation.path):
            ids = self.known_ids.get(operation.path[:match.start()])
            if not ids:
                return None
            chosen[match.group(1)] = ids[-1]
        return chosen or None

    def headers_for(self, case: Case, mode: GenerationMode) -> dict[str, str]:
        """The operator key on /admin; elsewhere the user's session, or a fresh one for an operation
        that revokes the session it is called with (so the shared one stays valid). With valid data, a
        fresh Idempotency-Key where the operation takes one: seeded generation repeats keys, and
        a key reused with another body is (rightly) a 422 that would hide the body's handling; the
        negative cases still send the generated keys."""
        if case.path.startswith("/admin"):
            headers = bearer(ADMIN_KEY)
        elif case.method.upper() == "DELETE" and case.path.endswith("/sessions/current"):
            headers = bearer(log_in(self.base_url, self.email))
        else:
            headers = bearer(self.user_token)
        if mode is GenerationMode.POSITIVE and takes_idempotency_key(case.operation):
            headers["Idempotency-Key"] = new_key()
        return headers


def takes_idempotency_key(operation: APIOperation) -> bool:
    return any(parameter.name.lower() == "idempotency-key" for parameter in operation.headers)


def log_in(base_url: str, email: str) -> str:
    answer = httpx.post(f"{base_url}/v1/sessions", json={"email": email, "password": STRONG_PASSWORD}, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def backend_budget(total: int) -> int:
    """This backend's share of the run's requests (the fuzzing backends this run has share them)."""
    running = [name for name in FUZZ_BACKENDS if name in BACKENDS] or list(FUZZ_BACKENDS)
    return math.ceil(total / len(running))


@pytest.fixture
def fuzz_target(servers: ServerFactory, request: pytest.FixtureRequest) -> Iterator[FuzzTarget]:
    server = servers.start("api", env=SERVER_ENV)
    email = new_email("fuzz")
    signup = httpx.post(f"{server.base_url}/v1/signups", json={"email": email, "password": STRONG_PASSWORD},
                        headers={"Idempotency-Key": new_key()}, timeout=30)
    assert signup.status_code == 201, signup.text
    target = FuzzTarget(base_url=server.base_url, email=email, user_token=log_in(server.base_url, email),
                        budget=backend_budget(requested_total(request.config)))
    started = time.monotonic()
    yield target
    elapsed = time.monotonic() - started
    statuses = ", ".join(f"{code}: {count}" for code, count in sorted(target.statuses.items()))
    request.node.user_properties.append(
        (REPORT_PROPERTY, f"{target.sent} requests in {elapsed:.0f} s (budget {target.budget}; {statuses}; "
                          f"{target.on_existing_resources} operations also on existing resources; "
                          f"{target.session_renewals} session renewals)"))
    assert target.sent >= target.budget, f"the fuzzer sent {target.sent} requests, fewer than {target.budget}"


@pytest.fixture
def fuzz_schema(fuzz_target: FuzzTarget) -> BaseSchema:
    """The live schema, read from the running process."""
    raw = httpx.get(f"{fuzz_target.base_url}/openapi.json", timeout=30).json()
    config = schemathesis.Config.from_dict({
        "base-url": fuzz_target.base_url, "request-timeout": REQUEST_TIMEOUT_SECONDS,
        # The credentials are ours (`FuzzTarget.headers_for`), so a generated Authorization would be
        # replaced and its negation lost; `ignored_auth` probes each operation without and with a bad one.
        # Extra query parameters are generated too: Seawall refuses them (`web.query_params`).
        "generation": {"with-security-parameters": False},
    })
    return schemathesis.openapi.from_dict(raw, config=config)


def one_error_shape(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx is `{"error": {"type", "message", "details"?}}` with non-empty strings."""
    if not 400 <= response.status_code < 500:
        return None
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the one error shape: {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and {"type", "message"} <= set(error) <= ERROR_FIELDS, error
    assert isinstance(error["type"], str) and error["type"], error
    assert isinstance(error["message"], str) and error["message"], error
    return True


def fuzz_operation(operation: APIOperation, mode: GenerationMode, target: FuzzTarget, examples: int, seed: int,
                   path_parameters: dict[str, str] | None = None) -> str | None:
    """Send up to `examples` generated requests (Hypothesis with this fixed seed: the same ones every
    run), with these path parameters if given, and check each answer; None, or the shrunk failure with
    its curl command. The first failing request is kept as sent: should Hypothesis fail to replay it
    (its shrinking re-runs the generation), the report still names it."""
    first_failure: list[str] = []

    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=examples, database=None, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck), verbosity=hypothesis.Verbosity.quiet,
                         phases=(hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def send(case: Case) -> None:
        target.sent += 1
        headers = target.headers_for(case, mode)
        response = case.call(base_url=target.base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
        target.record(case, response)
        target.keep_session(response, headers)
        try:
            case.validate_response(response, checks=CHECKS, additional_checks=[one_error_shape], headers=headers,
                                   transport_kwargs={"base_url": target.base_url, "headers": headers,
                                                     "timeout": REQUEST_TIMEOUT_SECONDS})
        except BaseExceptionGroup as failure:
            first_failure[:] = first_failure or [str(failure)]
            raise

    try:
        send()
    except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (an operation without inputs)
        assert mode is GenerationMode.NEGATIVE, operation.label
    except (Exception, BaseExceptionGroup) as failure:  # a FailureGroup (with curl), or what the transport raised
        on = f" on {path_parameters}" if path_parameters else ""
        report = f"{operation.label} ({mode.value}{on}): {failure}{''.join(getattr(failure, '__notes__', []))}"
        if first_failure and not isinstance(failure, BaseExceptionGroup):
            report += f"\nThe first failing request, as sent:\n{first_failure[0]}"
        return report
    return None


@pytest.mark.fuzzing
@pytest.mark.backends(*FUZZ_BACKENDS)
def test_every_operation_answers_as_its_schema_says(fuzz_schema: BaseSchema, fuzz_target: FuzzTarget) -> None:
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert operations, "the live schema has no operation"
    runs = [(operation, mode) for operation in operations for mode in GenerationMode]
    failures: dict[str, str] = {}  # the first one of each operation and mode
    # Passes with seeds 0, 1, ... share what is left of the budget: Hypothesis stops early on an
    # operation whose inputs it has exhausted, and the others make up for it in the next pass.
    for seed in range(MAX_PASSES):
        if fuzz_target.sent >= fuzz_target.budget:
            break
        examples = max(1, math.ceil((fuzz_target.budget - fuzz_target.sent) / len(runs)))
        for operation, mode in runs:
            if (failure := fuzz_operation(operation, mode, fuzz_target, examples, seed)) is not None:
                failures.setdefault(f"{operation.label} {mode.value}", failure)
    # Then valid requests on resources that exist (what the run created), where a path names one;
    # deletions last, so the others still find them.
    examples = max(1, math.ceil(fuzz_target.budget / len(runs)))
    for operation in sorted(operations, key=lambda operation: operation.method.upper() == "DELETE"):
        if (existing := fuzz_target.existing_path_parameters(operation)) is not None:
            fuzz_target.on_existing_resources += 1
            if (failure := fuzz_operation(operation, GenerationMode.POSITIVE, fuzz_target, examples, 0,
                                          existing)) is not None:
                failures.setdefault(f"{operation.label} on existing", failure)
    assert not failures, (f"{len(failures)} operation(s) answered against their schema:\n\n"
                          + "\n\n".join(failures.values()))
