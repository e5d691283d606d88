"""The chaos run's invariant checker catches each broken promise, so a chaos run cannot pass vacuously.

Each test starts from a clean history of one paid sign-up, one subscriber payment with a partial
refund and their emails (no violation), breaks one promise the way a bug would, and expects exactly
that promise to be reported.
"""

from __future__ import annotations

from collections import Counter

from seawall.chaos.invariants import (
    History,
    JobRecord,
    NotificationRecord,
    PaymentRecord,
    ProviderCharge,
    ProviderRefund,
    RefundRecord,
    Violation,
    check,
    message_id,
    redeliveries,
)


def clean_history() -> History:
    notifications = [
        NotificationRecord(id="ntf_1", event_key="payment_receipt:pay_signup", channel="email", status="sent"),
        NotificationRecord(id="ntf_2", event_key="payment_receipt:pay_order", channel="email", status="sent"),
        NotificationRecord(id="ntf_3", event_key="refund_issued:ref_1", channel="email", status="sent"),
        NotificationRecord(id="ntf_4", event_key="password_reset:pwr_1", channel="email", status="sent"),
    ]
    return History(
        signup_user_ids={"usr_a"},
        payment_ids={"pay_order"},
        refund_ids={"ref_1"},
        resets=1,
        payments={"pay_signup": PaymentRecord(id="pay_signup", user_id="usr_a", amount=1900, status="succeeded"),
                  "pay_order": PaymentRecord(id="pay_order", user_id="usr_b", amount=1500,
                                             status="partially_refunded", amount_refunded=500)},
        refunds={"ref_1": RefundRecord(id="ref_1", payment_id="pay_order", amount=500, status="succeeded")},
        notifications=notifications,
        charges=[ProviderCharge(intent_id="pi_1", payment_id="pay_signup", amount=1900, status="succeeded"),
                 ProviderCharge(intent_id="pi_2", payment_id="pay_order", amount=1500, status="succeeded")],
        provider_refunds=[ProviderRefund(intent_id="pi_2", amount=500, status="succeeded")],
        mail_deliveries=Counter({message_id(n.id): 1 for n in notifications}),
        webhooks={"missing": [], "unverified": 0, "redeliveries": 0},
    )


def promises(violations: list[Violation]) -> set[str]:
    return {violation.promise for violation in violations}


def test_a_clean_history_has_no_violation() -> None:
    assert check(clean_history()) == []


def test_a_double_charge_is_caught() -> None:
    history = clean_history()
    history.charges.append(ProviderCharge(intent_id="pi_3", payment_id="pay_signup", amount=1900, status="succeeded"))
    violations = check(history)
    assert promises(violations) == {"double_charge"}
    assert "pi_1" in str(violations[0]) and "pi_3" in str(violations[0])


def test_a_charge_for_another_amount_is_caught() -> None:
    history = clean_history()
    history.charges[0] = ProviderCharge(intent_id="pi_1", payment_id="pay_signup", amount=3800, status="succeeded")
    assert promises(check(history)) == {"double_charge"}


def test_a_payment_captured_at_the_provider_but_failed_here_is_lost() -> None:
    history = clean_history()
    history.payments["pay_signup"] = PaymentRecord(id="pay_signup", user_id="usr_a", amount=1900, status="failed")
    history.notifications[0] = NotificationRecord(id="ntf_1", event_key="payment_failed:pay_signup", channel="email",
                                                  status="sent")
    assert promises(check(history)) == {"lost_payment"}


def test_a_capture_recorded_here_that_the_provider_never_made_is_lost() -> None:
    history = clean_history()
    history.charges[0] = ProviderCharge(intent_id="pi_1", payment_id="pay_signup", amount=1900,
                                        status="requires_payment_method")
    assert promises(check(history)) == {"lost_payment"}


def test_an_accepted_payment_never_settled_nor_dead_lettered_is_lost_work() -> None:
    history = clean_history()
    history.payments["pay_new"] = PaymentRecord(id="pay_new", user_id="usr_b", amount=700, status="processing")
    history.payment_ids.add("pay_new")
    history.jobs.append(JobRecord(id=9, kind="payments.charge", queue="payments", status="queued",
                                  payload={"payment_id": "pay_new"}))
    violations = check(history)
    assert promises(violations) == {"lost_work"}
    assert {v.subject for v in violations} == {"payment pay_new", "job 9 (payments.charge)"}


def test_an_accepted_payment_missing_from_the_database_is_lost_work() -> None:
    history = clean_history()
    history.payment_ids.add("pay_ghost")
    assert promises(check(history)) == {"lost_work"}


def test_a_dead_lettered_payment_with_its_error_is_not_lost() -> None:
    history = clean_history()
    history.payments["pay_new"] = PaymentRecord(id="pay_new", user_id="usr_b", amount=700, status="processing")
    history.payment_ids.add("pay_new")
    history.jobs.append(JobRecord(id=9, kind="payments.charge", queue="payments", status="dead",
                                  payload={"payment_id": "pay_new"}, last_error="attempts exhausted: 503"))
    assert check(history) == []


def test_a_dead_letter_without_its_error_is_lost_work() -> None:
    history = clean_history()
    history.jobs.append(JobRecord(id=9, kind="notifications.send", queue="notifications", status="dead",
                                  payload={"notification_id": "ntf_9"}, last_error=None))
    assert promises(check(history)) == {"lost_work"}


def test_a_refund_above_the_capture_is_caught() -> None:
    history = clean_history()
    history.provider_refunds.append(ProviderRefund(intent_id="pi_2", amount=1400, status="succeeded"))
    violations = check(history)
    assert "refund_exceeds_capture" in promises(violations)
    assert "the provider refunded 1900 of 1500" in " ".join(map(str, violations))


def test_a_refund_made_twice_at_the_provider_is_caught() -> None:
    history = clean_history()
    history.provider_refunds.append(ProviderRefund(intent_id="pi_2", amount=500, status="succeeded"))
    assert promises(check(history)) == {"refund_mismatch"}


def test_ledger_problems_are_violations() -> None:
    history = clean_history()
    history.ledger_problems = ["transaction charge:pay_order is not balanced"]
    assert promises(check(history)) == {"ledger"}


def test_a_receipt_the_sink_never_got_is_undelivered() -> None:
    history = clean_history()
    del history.mail_deliveries[message_id("ntf_2")]
    assert promises(check(history)) == {"undelivered"}


def test_a_captured_payment_without_a_receipt_is_undelivered() -> None:
    history = clean_history()
    history.notifications.pop(0)
    assert promises(check(history)) == {"undelivered"}


def test_an_accepted_reset_without_its_email_is_undelivered() -> None:
    history = clean_history()
    history.resets = 2
    violations = check(history)
    assert promises(violations) == {"undelivered"}
    assert "2 accepted, 1 reset emails recorded" in str(violations[0])


def test_a_webhook_that_never_arrived_is_undelivered() -> None:
    history = clean_history()
    history.webhooks = {"missing": ["payment.succeeded pay_order"], "unverified": 0, "redeliveries": 0}
    assert promises(check(history)) == {"undelivered"}


def test_redeliveries_are_counted_not_violations() -> None:
    history = clean_history()
    history.mail_deliveries[message_id("ntf_1")] = 3
    history.webhooks = {"missing": [], "unverified": 0, "redeliveries": 2}
    assert check(history) == []
    assert redeliveries(history) == {"email": 2, "webhook": 2}
