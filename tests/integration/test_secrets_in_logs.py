"""Promise: no secret a request carries, and no secret setting, ever appears in a log line, an error
answer, or `seawall doctor`'s output: passwords (at sign-up, login, a refused login, reset, and
validation errors that fail on the password itself), session tokens, operator keys, reset tokens,
card data and signing secrets in requests that fail validation, secrets inside the exception of a
handler that raises, the database password (startup line, doctor) — every log line of the block is
captured, rendered by the production chain (structlog at every level and stdlib records, through the
one handler and its redaction), and searched for each secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from seawall.config import Settings, reveal
from seawall.kit.clock import FakeClock
from seawall.kit.tokens import new_token
from seawall.payments import service as payments_service
from seawall.runtime import Runtime
from tests.integration.accounts.test_password_reset import confirm, mailed_token
from tests.integration.accounts.wire import bearer, log_in, new_email, sign_up
from tests.integration.admin.operators import as_operator, keys_setting, operator_key
from tests.integration.notifications.wire import new_user
from tests.support.apps import BASE_URL, StartApp, asgi_client
from tests.support.logs import captured_logs
from tests.support.workers import RunJobs

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Pw-marker-3c9d1 correct horse"
WRONG_PASSWORD = "Pw-marker-77ab2 battery staple"
SHORT_PASSWORD = "Pw-mk-5e1f"  # under the 12 characters a password needs
LONG_PASSWORD = "Pw-marker-long-" + "z" * 130  # over the 128 allowed
NEW_PASSWORD = "Pw-marker-new-0d4e staple"
DB_PASSWORD = "Db-marker-91fe"  # PostgreSQL on loopback trusts every connection: any password connects


def with_password(url: str, password: str) -> str:
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def assert_nowhere(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"a secret ({secret[:6]}...) appears in: {text[:2000]}"


async def test_request_secrets_never_reach_logs_or_error_answers(
    started_app: StartApp, settings: Settings, run_jobs: RunJobs, fake_clock: FakeClock, backend: str
) -> None:
    operator, operator_entry = operator_key("leakcheck", "read")
    wrong_operator = operator + "x"
    overrides: dict[str, object] = {"operator_keys": keys_setting(operator_entry)}
    if backend != "sqlite":
        overrides["database_url"] = SecretStr(with_password(settings.resolved_database_url, DB_PASSWORD))
    address = new_email("leak")
    answers: list[str] = []
    with captured_logs() as logs:
        app = await started_app(clock=fake_clock, **overrides)  # the clock `run_jobs` runs the reset mail on
        async with asgi_client(app) as http:
            def keep(response: httpx.Response) -> httpx.Response:
                answers.append(f"{response.status_code} {dict(response.headers)} {response.text}")
                return response

            assert keep(await sign_up(http, address, PASSWORD)).status_code == 201
            for bad in (SHORT_PASSWORD, LONG_PASSWORD):
                refused = keep(await sign_up(http, new_email("bad"), bad))
                assert refused.status_code == 422 and refused.json()["error"]["details"][0]["loc"][-1] == "password"
            long_login = keep(await log_in(http, address, LONG_PASSWORD))
            assert long_login.status_code == 422
            assert keep(await log_in(http, address, WRONG_PASSWORD)).status_code == 401
            login = await log_in(http, address, PASSWORD)
            assert login.status_code == 201
            token = login.json()["token"]
            assert keep(await http.get("/v1/me", headers=bearer(token))).status_code == 200
            assert keep(await http.get("/v1/me", headers=bearer(token + "x"))).status_code == 401
            assert keep(await http.delete("/v1/sessions/current", headers=bearer(token))).status_code == 204
            assert keep(await http.get("/v1/me", headers=bearer(token))).status_code == 401

            assert keep(await http.get("/admin/jobs", headers=as_operator(operator))).status_code == 200
            assert keep(await http.post("/admin/jobs/1/replay", headers=as_operator(operator))).status_code == 403
            assert keep(await http.get("/admin/jobs", headers=as_operator(wrong_operator))).status_code == 401
            assert keep(await http.get("/admin/audit-events", headers=as_operator(operator))).status_code == 200

            reset_token = await mailed_token(http, settings, run_jobs, address)
            assert keep(await confirm(http, reset_token, NEW_PASSWORD)).status_code == 200
            assert keep(await confirm(http, reset_token, NEW_PASSWORD)).status_code == 400  # used
            assert keep(await http.post("/v1/password-resets/confirm", json={
                "token": reset_token, "new_password": SHORT_PASSWORD})).status_code == 422
        assert "app.started" in logs.events() and "audit.auth.login_failed" in logs.events()

    secrets = [PASSWORD, WRONG_PASSWORD, SHORT_PASSWORD, LONG_PASSWORD, NEW_PASSWORD, token, operator,
               wrong_operator, reset_token, DB_PASSWORD]
    assert_nowhere(secrets, logs.text, *answers)


CARD_NUMBER, CARD_SPACED, CVC = "4242424242424242", "4000 0566 5566 5556", "Cvc-marker-913"
SIGNING_SECRET, STRIPE_KEY = "whsec_Mk7marker0rGKYqrTwjUPD8ILPZIo2La", "sk_live_51Marker0a1b2c3d4e5f6"


@pytest.mark.backends("sqlite")  # the chain and the handlers are the same on every backend
async def test_card_data_signing_secrets_keys_and_tokens_in_failing_requests_never_reach_logs(
    started_app: StartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests that fail — validation errors on card data and on a signing secret, an operator key in a
    refused admin call, and a handler that raises an exception whose message quotes the bearer token,
    a card number and secret keys (a bug that formats its input into an error) — leave none of them in
    any log line: the 500's traceback and `repr(exc)` included."""
    operator, operator_entry = operator_key("leakcheck", "read")
    reset_token = new_token()
    answers: list[str] = []
    with captured_logs() as logs:
        app = await started_app(operator_keys=keys_setting(operator_entry))
        async with asgi_client(app) as http:
            user = await new_user(http)
            token = user.headers["Authorization"].removeprefix("Bearer ")
            paying = {**user.headers, "Idempotency-Key": "leak-pay-1"}
            for body in ({"amount": 100, "currency": "usd", "payment_method": "pm_card_visa",
                          "card": {"number": CARD_NUMBER, "cvc": CVC, "exp_month": 12, "exp_year": 2030}},
                         {"amount": 100, "currency": "usd", "payment_method": CARD_SPACED, "cvc": CVC}):
                refused = await http.post("/v1/payments", headers=paying, json=body)
                assert refused.status_code == 422, refused.text
                answers.append(refused.text)
            hook = await http.post("/v1/webhook-endpoints", headers={**user.headers, "Idempotency-Key": "leak-hook-1"},
                                   json={"url": "https://hooks.example.com/in", "event_types": ["payment.succeeded"],
                                         "secret": SIGNING_SECRET, "stripe_api_key": STRIPE_KEY})
            assert hook.status_code == 422, hook.text
            for refused in (await http.get("/admin/jobs", params={"limit": "lots"}, headers=as_operator(operator)),
                            await http.get("/admin/jobs", params={"api_key": operator}, headers=as_operator(operator)),
                            await http.post("/v1/password-resets/confirm", json={"token": reset_token, "x": CVC})):
                assert refused.status_code == 422, refused.text
                answers.append(refused.text)

            async def broken(*args: object, **kwargs: object) -> object:
                raise RuntimeError(f"could not list for Authorization: Bearer {token} with card {CARD_NUMBER} "
                                   f"cvc={CVC}, endpoint secret {SIGNING_SECRET}, key {STRIPE_KEY}; {kwargs!r}")

            monkeypatch.setattr(payments_service, "list_payments_of", broken)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as raw:
                failed = await raw.get("/v1/payments", headers=user.headers)
            assert failed.status_code == 500
            answers.append(failed.text)
    events = logs.events()
    assert "request.unexpected_error" in events and events.count("http.request") >= 7
    (error_line,) = [line for line in logs.lines() if line["event"] == "request.unexpected_error"]
    assert "RuntimeError: could not list for Authorization: " in error_line["exception"]  # the rest is scrubbed
    secrets = [CARD_NUMBER, CARD_SPACED, CARD_SPACED.replace(" ", ""), CVC, SIGNING_SECRET,
               SIGNING_SECRET.removeprefix("whsec_"), STRIPE_KEY, operator, token, reset_token]
    assert_nowhere(secrets, logs.text, *answers)


def run_doctor(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SEAWALL_")}
    env.update(environment, SEAWALL_LOG_LEVEL="DEBUG")
    return subprocess.run([sys.executable, "-m", "seawall", "doctor", "--json"], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)


async def test_doctor_reads_secrets_from_files_and_prints_none_of_them(
    runtime: Runtime, settings: Settings, tmp_path: Path, backend: str
) -> None:
    """`SEAWALL_*_FILE` on every backend: the database URL (with a password on PostgreSQL), the secret
    key, the operator keys and a provider key come from files; doctor connects with them, lists the
    operator keys by name, and neither its output nor its log lines hold any of them."""
    operator, operator_entry = operator_key("from-file", "operate")
    files = {
        "SEAWALL_SECRET_KEY": "Sk-marker-0a8b7c6d5e4f",
        "SEAWALL_OPERATOR_KEYS": f"# rotated today\n{operator_entry}\n",
        "SEAWALL_STRIPE_API_KEY": "sk_live_marker_5d6e7f",
        "SEAWALL_SMTP_PASSWORD": "Smtp-marker-1b2c",
    }
    database_url = settings.resolved_database_url
    if backend != "sqlite":
        files["SEAWALL_DATABASE_URL"] = with_password(database_url, DB_PASSWORD)
    else:
        files["SEAWALL_DATABASE_URL"] = database_url
    environment = {"SEAWALL_VAR_DIR": str(settings.var_dir), "SEAWALL_ADMIN_API_KEY": "Admin-marker-9e8d7c"}
    for variable, content in files.items():
        path = tmp_path / variable.lower()
        path.write_text(content + "\n")
        environment[f"{variable}_FILE"] = str(path)
    for name in ("redis_url", "broker_url"):
        value = reveal(getattr(settings, name))
        if value:
            environment[f"SEAWALL_{name.upper()}"] = value

    result = run_doctor(environment)

    assert '"ok": true' in result.stdout and '"schema_current": true' in result.stdout, result.stdout + result.stderr
    assert '{"name": "from-file", "scope": "operate"}' in result.stdout
    assert '{"name": "admin", "scope": "operate"}' in result.stdout
    shown_url = make_url(files["SEAWALL_DATABASE_URL"]).render_as_string(hide_password=True)
    assert f'"url": "{shown_url}"' in result.stdout  # the password masked, the rest shown
    secrets = [content.strip() for content in files.values() if "://" not in content] + [
        operator, DB_PASSWORD, "Admin-marker-9e8d7c", operator_entry.rsplit(":", 1)[1]]
    assert_nowhere(secrets, result.stdout, result.stderr)


REDIS_PASSWORD, BROKER_PASSWORD = "Redis-marker-4b5a", "Amqp-marker-8c7d"


@pytest.mark.backends("full")
async def test_redis_and_broker_passwords_never_reach_logs_or_doctor(
    runtime: Runtime, settings: Settings, started_app: StartApp
) -> None:
    """Backend URLs with passwords: Redis on loopback accepts any password (`nopass`), RabbitMQ refuses
    guest with a wrong one, so doctor reports the broker's error; neither password is ever printed."""
    redis_url = with_password(reveal(settings.redis_url) or "", REDIS_PASSWORD)
    broker_url = with_password(reveal(settings.broker_url) or "", BROKER_PASSWORD)
    with captured_logs() as logs:
        app = await started_app(redis_url=SecretStr(redis_url), broker_url=SecretStr(broker_url))
        async with asgi_client(app) as http:
            assert (await sign_up(http, new_email("redis"))).status_code == 201  # limits fail open
    result = run_doctor({"SEAWALL_VAR_DIR": str(settings.var_dir), "SEAWALL_SECRET_KEY": "x" * 32,
                         "SEAWALL_DATABASE_URL": settings.resolved_database_url, "SEAWALL_REDIS_URL": redis_url,
                         "SEAWALL_BROKER_URL": broker_url})
    assert result.returncode == 1, result.stdout + result.stderr  # the broker refused
    assert f":***@{make_url(redis_url).host}" in result.stdout and f":***@{make_url(broker_url).host}" in result.stdout
    assert '"error"' in result.stdout.split('"job_transport"')[1].split('"redis"')[0]
    assert_nowhere([REDIS_PASSWORD, BROKER_PASSWORD], logs.text, result.stdout, result.stderr)
