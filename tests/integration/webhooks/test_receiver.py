"""The sandbox's webhook receiver, steered over HTTP as the demo and `seawall sandbox` users do:
it verifies with `standardwebhooks`, records by webhook-id, and answers as configured."""

from __future__ import annotations

import time

import httpx

from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from seawall.webhooks.signing import generate_secret, signed_headers


async def test_the_receiver_is_steered_and_read_over_http(receiver: WebhookReceiverServer) -> None:
    secret = generate_secret()
    body = b'{"type":"payment.succeeded","timestamp":"2026-01-01T00:00:00Z","data":{}}'
    signed = signed_headers(secret, message_id="msg_1", timestamp=int(time.time()), body=body)
    async with httpx.AsyncClient(base_url=receiver.base_url) as http:
        assert (await http.post("/hooks/nobody", content=body, headers=signed)).status_code == 404
        configured = await http.put("/_receiver/endpoints/shop",
                                    json={"secret": secret, "respond": {"status": 503, "retry_after": 7, "times": 1}})
        assert configured.status_code == 200
        unavailable = await http.post("/hooks/shop", content=body, headers=signed)
        assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "7")
        assert (await http.post("/hooks/shop", content=body, headers=signed)).status_code == 200
        tampered = await http.post("/hooks/shop", content=body.replace(b"2026", b"2027"), headers=signed)
        assert tampered.status_code == 400
        await http.put("/_receiver/endpoints/shop", json={"respond": {"status": 410}})
        assert (await http.post("/hooks/shop", content=body, headers=signed)).status_code == 410

        seen = (await http.get("/_receiver/deliveries", params={"webhook_id": "msg_1"})).json()
        assert seen["count"] == 4
        assert [(d["answered"], d["verified"]) for d in seen["data"]] == [(503, True), (200, True), (400, False),
                                                                          (410, True)]
        await http.post("/_receiver/reset")
        assert (await http.get("/_receiver/deliveries")).json()["count"] == 0
