"""The outside world behind the domain's ports: Postgres, Redis, RQ, Stripe, the clock."""
