"""OWASP API6:2023 Unrestricted Access to Sensitive Business Flows. Promise, on every backend: the
flows worth automating — signing up, asking for password resets, refunding — have velocity limits;
going over one is a 429 `rate_limited` in the one error shape with `Retry-After` and the policy
named, and one client's or user's excess never limits another.

    flow             limited per                           settings (SEAWALL_RATE_LIMIT_…)
    sign-up          client IP                             SIGNUP_PER_IP
    password reset   client IP, and the email asked for    PASSWORD_RESET_PER_IP, PASSWORD_RESET_PER_EMAIL
    refund           user, and (user, payment)             REFUNDS_PER_USER, REFUNDS_PER_PAYMENT
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.accounts.wire import assert_error, bearer, new_email, new_key, request_reset, sign_up, token_for
from tests.integration.payments.flow import payments_worker, post_payment, refunds_of, running, wait_for_payments
from tests.support.apps import StartApp, asgi_client


def assert_limited(response: httpx.Response, policy: str) -> None:
    error = assert_error(response, 429, "rate_limited")
    assert error["details"]["policy"] == policy, error
    assert int(response.headers["Retry-After"]) >= 1


async def test_sign_ups_are_limited_per_client_address(started_app: StartApp) -> None:
    app = await started_app(rate_limit_signup_per_ip="2/minute")
    async with asgi_client(app, ip="198.51.100.30") as bot, asgi_client(app, ip="198.51.100.31") as person:
        assert [(await sign_up(bot, new_email("bot"))).status_code for _ in range(2)] == [201, 201]
        refused_email = new_email("bot")
        assert_limited(await sign_up(bot, refused_email), "signup-ip-60s")
        assert (await sign_up(person, new_email("person"))).status_code == 201
        assert (await sign_up(person, refused_email)).status_code == 201  # the refused one created nothing


async def test_password_resets_are_limited_per_client_address(started_app: StartApp) -> None:
    app = await started_app(rate_limit_password_reset_per_ip="2/minute")
    async with asgi_client(app, ip="198.51.100.40") as bot, asgi_client(app, ip="198.51.100.41") as person:
        assert [(await request_reset(bot, new_email())).status_code for _ in range(2)] == [202, 202]
        assert_limited(await request_reset(bot, new_email()), "reset-ip-60s")
        assert (await request_reset(person, new_email())).status_code == 202


async def test_password_resets_are_limited_per_email_from_any_address(started_app: StartApp) -> None:
    app = await started_app(rate_limit_password_reset_per_email="2/minute")
    victim = new_email("victim")
    answers = []
    for n in range(3):  # one attacker behind three addresses
        async with asgi_client(app, ip=f"198.51.100.{50 + n}") as http:
            answers.append(await request_reset(http, victim))
    assert [a.status_code for a in answers[:2]] == [202, 202]
    assert_limited(answers[2], "reset-email-60s")
    async with asgi_client(app, ip="198.51.100.50") as http:
        assert (await request_reset(http, new_email("someone-else"))).status_code == 202


async def refund(client: httpx.AsyncClient, auth: dict[str, str], payment_id: str) -> httpx.Response:
    return await client.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 1},
                             headers={**auth, "Idempotency-Key": new_key()})


async def test_refunds_are_limited_per_user_and_per_payment_without_leaking_across_users(
    started_app: StartApp, make_runtime: Callable[..., Runtime], sandbox: SandboxServer
) -> None:
    app = await started_app(stripe_api_base=sandbox.base_url, rate_limit_refunds_per_payment="2/minute",
                            rate_limit_refunds_per_user="4/minute")
    async with asgi_client(app) as http:
        users = []
        for name in ("alice", "bob"):
            email = new_email(name)
            assert (await sign_up(http, email)).status_code == 201
            users.append(bearer(await token_for(http, email)))
        alice, bob = users
        first, second = [str((await post_payment(http, alice, amount=1000))["id"]) for _ in range(2)]
        bobs = str((await post_payment(http, bob, amount=1000))["id"])
        worker_runtime = make_runtime(stripe_api_base=sandbox.base_url)
        async with running(payments_worker(worker_runtime)) as worker_task:
            await wait_for_payments(worker_runtime.database, [first, second, bobs], "succeeded",
                                    worker_task=worker_task)

        for _ in range(2):  # Bob naming Alice's payment: 404, spent from Bob's quotas, not Alice's
            assert_error(await refund(http, bob, first), 404)
        assert [(await refund(http, alice, first)).status_code for _ in range(2)] == [202, 202]
        assert_limited(await refund(http, alice, first), "refunds-payment-60s")  # her 3rd try this minute
        assert (await refund(http, alice, second)).status_code == 202  # another payment: her 4th
        assert_limited(await refund(http, alice, second), "refunds-user-60s")

        # Alice's excess does not limit Bob; his probing of her payment counted against him.
        assert [(await refund(http, bob, bobs)).status_code for _ in range(2)] == [202, 202]
        assert_limited(await refund(http, bob, bobs), "refunds-user-60s")
        assert len(await refunds_of(worker_runtime.database, first)) == 2  # refused ones created nothing
        assert len(await refunds_of(worker_runtime.database, second)) == 1
