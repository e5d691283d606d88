"""Promise (issue 12, items 1, 2, 5, 6, 7, 8): hostile input is a 4xx in the one error shape on every
backend, never a 500, and never a way around a limit.

- One spelling of an address (`kit.addresses`) for the models AND the per-email limits: spelling an
  address differently spends the same quota; display names and SMTPUTF8 local parts are refused; an
  internationalized domain is kept in its ASCII form, so the account can always be mailed.
- One guard for every body, path and query (`web.input_guard`): JSON nested too deep, JSON that is not
  strict (a lone surrogate, invalid UTF-8), and a NUL character anywhere are a 422.
- Money is a JSON integer and nothing else; a currency is accepted in either case.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.accounts.wire import (
    STRONG_PASSWORD,
    assert_error,
    bearer,
    log_in,
    new_email,
    new_key,
    request_reset,
    sign_up,
    token_for,
)
from tests.integration.ratelimit.conftest import client_of
from tests.support.apps import StartApp

VALID_PAYMENT = {"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa"}


async def a_user(client: httpx.AsyncClient) -> dict[str, str]:
    email = new_email("hostile")
    assert (await sign_up(client, email)).status_code == 201
    return bearer(await token_for(client, email))


def refused_with(response: httpx.Response, detail_type: str | None = None) -> dict[str, Any]:
    """A 422 `validation_error`; with `detail_type`, one of its details has that type."""
    error = assert_error(response, 422, "validation_error")
    if detail_type is not None:
        assert detail_type in {detail["type"] for detail in error["details"]}, error
    return error


async def pay(client: httpx.AsyncClient, user: dict[str, str], body: Any) -> httpx.Response:
    return await client.post("/v1/payments", json=body, headers={**user, "Idempotency-Key": new_key()})


async def payments_of(client: httpx.AsyncClient, user: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/v1/payments", headers=user)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


# --- 1. one spelling of an address for the models and the limits ---------------------------------------

def spellings(email: str) -> list[str]:
    local, domain = email.split("@")
    return [email, email.upper(), f"  {local.capitalize()}@{domain.upper()}  ", f"{local}@{domain.capitalize()}"]


async def test_every_spelling_of_an_address_spends_one_password_reset_quota(started_app: StartApp) -> None:
    app = await started_app(rate_limit_password_reset_per_email="3/minute")
    async with client_of(app) as http:
        victim = new_email("victim")
        assert (await sign_up(http, victim)).status_code == 201
        first, second, third, fourth = spellings(victim)
        assert [(await request_reset(http, email)).status_code for email in (first, second, third)] == [202] * 3
        refused = await request_reset(http, fourth)
        assert_error(refused, 429, "rate_limited")
        assert refused.json()["error"]["details"]["policy"] == "reset-email-60s"


async def test_a_display_name_is_refused_everywhere_an_address_is_taken(client: httpx.AsyncClient) -> None:
    victim = new_email("victim")
    assert (await sign_up(client, victim)).status_code == 201
    for name in ("A", "B", '"Victim"'):
        spelled = f"{name} <{victim}>"
        refused_with(await request_reset(client, spelled))
        refused_with(await log_in(client, spelled))
        refused_with(await sign_up(client, spelled))


async def test_a_locked_address_stays_locked_under_any_spelling(started_app: StartApp) -> None:
    app = await started_app(rate_limit_login_per_email="3/minute")
    async with client_of(app) as http:
        victim = new_email("locked")
        assert (await sign_up(http, victim)).status_code == 201
        for spelled in spellings(victim)[:3]:
            assert_error(await log_in(http, spelled, "a wrong guess"), 401)
        for spelled in spellings(victim):
            refused = await log_in(http, spelled)  # the right password, spelled another way: still locked
            assert_error(refused, 429, "rate_limited")
        refused_with(await log_in(http, f"Victim <{victim}>"))  # no address at all: no session either


# --- 8. one address policy: ASCII local part, IDNA domain --------------------------------------------------

@pytest.mark.parametrize("address", ["jörg.müller@example.com", "用户@example.com", "ｕser@example.com"])
async def test_an_address_that_needs_smtputf8_is_refused_at_the_door(client: httpx.AsyncClient, address: str) -> None:
    error = refused_with(await sign_up(client, address))
    assert error["details"][0]["loc"] == ["body", "email"]
    refused_with(await log_in(client, address))
    refused_with(await request_reset(client, address))


async def test_an_internationalized_domain_is_kept_in_its_ascii_form(client: httpx.AsyncClient) -> None:
    local = new_email("idn").split("@")[0]
    created = await sign_up(client, f"{local}@Bücher.example.com")
    assert created.status_code == 201, created.text
    assert created.json()["user"]["email"] == f"{local}@xn--bcher-kva.example.com"
    # One account, however the domain is written: its Unicode and its ASCII form are the same address.
    assert_error(await sign_up(client, f"{local}@xn--bcher-kva.example.com"), 409, "email_taken")
    assert (await log_in(client, f"{local.upper()}@BÜCHER.example.com")).status_code == 201
    assert (await request_reset(client, f"{local}@xn--bcher-kva.example.com")).status_code == 202


# --- 2. JSON depth, and JSON that is not strict ------------------------------------------------------------

async def test_deeply_nested_json_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    body = b"[" * 5000 + b"]" * 5000
    for path in ("/v1/sessions", "/v1/signups", "/v1/password-resets", "/v1/payments"):
        response = await client.post(path, content=body, headers={"Content-Type": "application/json",
                                                                   "Idempotency-Key": new_key()})
        refused_with(response, "json_too_deep")


async def test_nesting_is_counted_at_any_place_in_the_body(client: httpx.AsyncClient) -> None:
    user = await a_user(client)
    too_deep: Any = "x"
    for _ in range(32):
        too_deep = [too_deep]
    refused_with(await pay(client, user, {**VALID_PAYMENT, "description": too_deep}), "json_too_deep")
    shallow_enough = too_deep[0]  # 32 levels with the body itself: an ordinary field error
    error = refused_with(await pay(client, user, {**VALID_PAYMENT, "description": shallow_enough}))
    assert "json_too_deep" not in {detail["type"] for detail in error["details"]}
    assert await payments_of(client, user) == []


@pytest.mark.parametrize("raw", [
    b'{"email": "\\ud800@example.com", "password": "x"}',  # a lone surrogate escape
    b'{"email": "\xff\xfe@example.com", "password": "x"}',  # not UTF-8
    b'{"email": "a@example.com", "password": "x"',  # cut short
])
async def test_json_that_is_not_strict_is_a_422(client: httpx.AsyncClient, raw: bytes) -> None:
    refused_with(await client.post("/v1/sessions", content=raw, headers={"Content-Type": "application/json"}),
                 "json_invalid")


async def test_a_lone_surrogate_is_never_stored(client: httpx.AsyncClient) -> None:
    user = await a_user(client)
    raw = b'{"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "description": "a\\udc00b"}'
    response = await client.post("/v1/payments", content=raw,
                                 headers={**user, "Idempotency-Key": new_key(), "Content-Type": "application/json"})
    refused_with(response, "json_invalid")
    assert await payments_of(client, user) == []


# --- 5 and 6. money is an integer; a currency in either case -----------------------------------------------

@pytest.mark.parametrize("amount", [True, False, 1.0, 1.5, "1", "100", [1], {"value": 1}, None])
async def test_an_amount_that_is_not_a_json_integer_is_refused_and_charges_nothing(
    client: httpx.AsyncClient, amount: Any,
) -> None:
    user = await a_user(client)
    error = refused_with(await pay(client, user, {**VALID_PAYMENT, "amount": amount}))
    assert ["body", "amount"] in [detail["loc"] for detail in error["details"]]
    assert await payments_of(client, user) == []


async def test_a_refund_amount_is_a_json_integer_too(client: httpx.AsyncClient) -> None:
    user = await a_user(client)
    created = await pay(client, user, VALID_PAYMENT)
    assert created.status_code == 202, created.text
    for amount in (True, 1.0, "1"):
        response = await client.post(f"/v1/payments/{created.json()['id']}/refunds", json={"amount": amount},
                                     headers={**user, "Idempotency-Key": new_key()})
        refused_with(response)


@pytest.mark.parametrize(("given", "kept"), [("USD", "usd"), ("Eur", "eur"), ("gbp", "gbp")])
async def test_a_currency_is_taken_in_either_case_and_kept_lower_case(
    client: httpx.AsyncClient, given: str, kept: str,
) -> None:
    user = await a_user(client)
    created = await pay(client, user, {**VALID_PAYMENT, "currency": given})
    assert created.status_code == 202, created.text
    assert created.json()["currency"] == kept


@pytest.mark.parametrize("currency", ["US", "USDX", "U$D", "ÜSD", ""])
async def test_a_currency_that_is_not_three_letters_is_refused(client: httpx.AsyncClient, currency: str) -> None:
    user = await a_user(client)
    refused_with(await pay(client, user, {**VALID_PAYMENT, "currency": currency}))


# --- 7. NUL characters: refused in every text, on every backend --------------------------------------------

async def test_a_nul_in_any_text_of_a_body_is_refused(client: httpx.AsyncClient) -> None:
    user = await a_user(client)
    nul = "a\u0000b"
    refused_with(await pay(client, user, {**VALID_PAYMENT, "description": nul}), "nul_character")
    refused_with(await pay(client, user, {**VALID_PAYMENT, "payment_method": f"pm_{nul}"}), "nul_character")
    refused_with(await pay(client, user, {**VALID_PAYMENT, nul: 1}), "nul_character")  # a key
    assert await payments_of(client, user) == []
    refused_with(await client.post("/v1/sessions", json={"email": f"{nul}@example.com", "password": nul}),
                 "nul_character")
    refused_with(await sign_up(client, new_email("nul"), password=f"{STRONG_PASSWORD}{nul}"), "nul_character")
    refused_with(await client.post("/v1/webhook-endpoints", headers=user,
                                   json={"url": f"https://example.com/{nul}", "event_types": ["payment.succeeded"]}),
                 "nul_character")
    refused_with(await client.put("/v1/me/notification-preferences", headers=user,
                                  json={"channels": ["email"], "phone_number": f"+1555{nul}"}), "nul_character")
    created = await pay(client, user, VALID_PAYMENT)
    refund = await client.post(f"/v1/payments/{created.json()['id']}/refunds", json={"reason": nul},
                               headers={**user, "Idempotency-Key": new_key()})
    refused_with(refund, "nul_character")


@pytest.mark.parametrize("target", [
    "/v1/payments/pay_a%00b",
    "/v1/payments?cursor=a%00b",
    "/v1/payments?limit=1%00",
    "/v1/notifications?cursor=%00",
    "/v1/webhook-endpoints/wh_%00",
])
async def test_a_nul_in_a_path_or_query_is_refused(client: httpx.AsyncClient, target: str) -> None:
    user = await a_user(client)
    refused_with(await client.get(target, headers=user), "nul_character")


async def test_an_escaped_backslash_before_u0000_is_plain_text_not_a_nul(client: httpx.AsyncClient) -> None:
    user = await a_user(client)
    raw = b'{"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "description": "C:\\\\u0000"}'
    created = await client.post("/v1/payments", content=raw,
                                headers={**user, "Idempotency-Key": new_key(), "Content-Type": "application/json"})
    assert created.status_code == 202, created.text
    assert created.json()["description"] == "C:\\u0000"


# --- unknown query parameters: refused like unknown body fields (found by the schema fuzzer) --------------

@pytest.mark.parametrize(("target", "unknown"), [
    ("/v1/payments?limt=10", ["limt"]),
    ("/v1/payments?limit=10&cursor=&=null", [""]),
    ("/v1/me?debug=1&admin=true", ["debug", "admin"]),
    ("/v1/notifications?status=sent", ["status"]),
])
async def test_a_query_parameter_the_operation_does_not_read_is_a_422(
    client: httpx.AsyncClient, target: str, unknown: list[str],
) -> None:
    user = await a_user(client)
    error = refused_with(await client.get(target, headers=user), "extra_forbidden")
    assert [detail["loc"] for detail in error["details"]] == [["query", name] for name in unknown]


async def test_the_parameters_an_operation_declares_still_pass(client: httpx.AsyncClient) -> None:
    user = await a_user(client)
    assert (await client.get("/v1/payments?limit=5", headers=user)).status_code == 200
    assert (await client.get("/livez")).status_code == 200


# --- found by the newcomer check --------------------------------------------------------------------------

@pytest.mark.parametrize("given", ['"}{"forged":1', "<script>x</script>", "ïd", "a b", "x" * 129,
                                   # of the shape, but holding what looks like a secret: never echoed or logged
                                   "4242424242424242", "sk_live_51HxLEAKEDKEY", "password=Hunter2Secret"])
async def test_a_request_id_of_another_shape_is_replaced_not_logged(client: httpx.AsyncClient, given: str) -> None:
    answer = await client.get("/livez", headers={"X-Request-ID": given.encode()})
    assert answer.headers["x-request-id"] != given and len(answer.headers["x-request-id"]) == 24


async def test_a_request_id_of_the_usual_shapes_is_kept(client: httpx.AsyncClient) -> None:
    for given in ("3f2c9a1e-8f4b-4c1a-9e7d-2b5f6a8c0d11", "req-42", "Root=1-67891233-abcdef012345678912345678"):
        assert (await client.get("/livez", headers={"X-Request-ID": given})).headers["x-request-id"] == given


async def test_a_body_with_thousands_of_problems_gets_a_bounded_answer(client: httpx.AsyncClient) -> None:
    body = {f"u{index}": 0 for index in range(5000)}  # ~50 kB, under the body limit
    error = refused_with(await client.post("/v1/sessions", json=body))
    assert len(error["details"]) == 20
    query = "&".join(f"q{index}=1" for index in range(3000))
    error = refused_with(await client.get(f"/v1/payments?{query}"))
    assert len(error["details"]) == 20
