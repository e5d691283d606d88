"""The one address policy: what an email address is, and the one spelling Seawall keeps of it.

Every place an address enters (sign-up, login, password reset) and every place that keys on one
(the per-email rate limits) goes through `normalize_email_address`, so two spellings of one mailbox
are one account and spend one quota.

The policy (email-validator, which follows RFC 5321/5322 and RFC 6531/5890 for the international parts):
- A bare address (`addr-spec`) only: a display name (`A <victim@example.com>`), quoted local parts,
  comments and IP-literal domains are refused.
- The local part (before `@`) is ASCII: an address whose local part needs SMTPUTF8 (RFC 6531, e.g.
  `jörg.müller@example.com`) is refused at the door, because not every relay offers SMTPUTF8 and an
  account that can never receive its reset mail is worse than a clear error at sign-up.
- An internationalized domain is accepted and kept in its ASCII form (IDNA 2008, RFC 5890):
  `user@bücher.de` is stored, limited and mailed as `user@xn--bcher-kva.de`, which every relay takes.
- Domains reserved for special use (RFC 6761: `.test`, `.invalid`, `localhost`, ...) are refused
  (email-validator's default).
- The result is lower-cased whole. Local parts are case-sensitive in principle (RFC 5321 §2.4), but
  no mailbox provider in use treats them so, and one account per case-spelling invites takeovers.
- At most 64 characters before the `@` and 254 in all once normalized (RFC 5321 §4.5.3.1: the local
  part's limit, and the path's less the angle brackets); email-validator leaves the first to `strict`.
"""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field

MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
MAX_INPUT_LENGTH = 320  # a longer string is refused before parsing


def normalize_email_address(text: str) -> str:
    """`text` as the one spelling of its address (see the module's policy), e.g.
    `" User@Bücher.DE "` -> `"user@xn--bcher-kva.de"`.

    Raises `ValueError` (which pydantic reports as a 422 field error) with the reason when `text` is not
    an address Seawall accepts.
    """
    if len(text) > MAX_INPUT_LENGTH:
        raise ValueError(f"is longer than {MAX_INPUT_LENGTH} characters")
    try:
        info = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False,
                              allow_display_name=False, allow_quoted_local=False, allow_domain_literal=False)
    except EmailNotValidError as exc:
        raise ValueError(f"is not an email address Seawall accepts: {exc}") from None
    address = info.ascii_email
    if address is None:  # only with allow_smtputf8, which is off; kept for the type checker
        raise ValueError("needs SMTPUTF8, which Seawall does not accept")
    address = address.lower()
    if len(address.rpartition("@")[0]) > MAX_LOCAL_PART_LENGTH:
        raise ValueError(f"has more than {MAX_LOCAL_PART_LENGTH} characters before the @-sign")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise ValueError(f"is longer than {MAX_ADDRESS_LENGTH} characters once its domain is in ASCII")
    return address


# The wire type of every email address a request carries.
EmailAddress = Annotated[
    str,
    Field(max_length=MAX_INPUT_LENGTH, json_schema_extra={"format": "email"},
          description="an address (no display name); its local part in ASCII; an internationalized "
                      "domain is kept in its IDNA (xn--) form; lower-cased"),
    AfterValidator(normalize_email_address),
]
