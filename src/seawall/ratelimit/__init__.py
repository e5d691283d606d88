"""Rate limiting: moving windows (the `limits` library) per client IP, session, operator key and,
on login / sign-up / password reset, stricter per IP and per email. Redis in server mode, in
process in embedded mode. See `policy` (quotas and headers), `limiter` (storage and degradation),
`limits` (the process's limits and client identity) and `middleware` (the HTTP edge)."""

from seawall.ratelimit.limiter import RateLimiter, Verdict
from seawall.ratelimit.limits import RateLimits, client_address
from seawall.ratelimit.middleware import RateLimitMiddleware
from seawall.ratelimit.policy import Partition, Quota, Quotas

__all__ = ["Partition", "Quota", "Quotas", "RateLimitMiddleware", "RateLimiter", "RateLimits", "Verdict",
           "client_address"]
