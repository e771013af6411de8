"""Ways into the billing service: the HTTP API, the RQ worker and the flask CLI."""

BILLING_SERVICE_PACKAGE = True
