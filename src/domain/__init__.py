"""The billing rules: plans, money, subscriptions, quotas, metering and invoicing.

Pure Python: this package imports only the standard library and itself.
"""
