"""RQ jobs and the scheduler registration. Jobs take ids and build nothing themselves."""

# Job names the domain enqueues, resolved to the functions RQ imports in the worker.
JOB_PATHS: dict[str, str] = {
    "process_webhook_event": "entrypoints.worker.jobs.process_webhook_event",
    "sweep_webhook_inbox": "entrypoints.worker.jobs.sweep_webhook_inbox",
    "flush_quota_ledger": "entrypoints.worker.jobs.flush_quota_ledger",
    "invoice_organization": "entrypoints.worker.jobs.invoice_organization",
    "schedule_monthly_invoicing": "entrypoints.worker.jobs.schedule_monthly_invoicing",
    "check_dunning": "entrypoints.worker.jobs.check_dunning_job",
    "create_usage_partitions": "entrypoints.worker.jobs.create_usage_partitions",
    # reconciliation
    "reconcile_books": "entrypoints.worker.reconcile_jobs.reconcile_books",
    "schedule_reconciliation": "entrypoints.worker.reconcile_jobs.schedule_reconciliation",
    "fan_out_message": "entrypoints.worker.outbound_jobs.fan_out_message",
    "deliver_webhook": "entrypoints.worker.outbound_jobs.deliver_webhook",
    "sweep_outbound_webhooks": "entrypoints.worker.outbound_jobs.sweep_outbound_webhooks",
}

# Which queue (by urgency, see Settings.queue_names) each job waits in. The flush keeps the
# ledger's few-second promise and the sweep recovers lost webhooks, so both are urgent; bulk
# work may take minutes and must never delay them or a webhook.
JOB_QUEUES: dict[str, str] = {
    "process_webhook_event": "webhooks",
    "sweep_webhook_inbox": "urgent",
    "flush_quota_ledger": "urgent",
    "invoice_organization": "bulk",
    "schedule_monthly_invoicing": "bulk",
    "check_dunning": "bulk",
    # A few catalog lookups once a day; the months it makes are needed weeks later.
    "create_usage_partitions": "bulk",
    # Reconciliation reads all of Stripe's lists: its own queue, so it delays nothing else.
    "reconcile_books": "reconcile",
    "schedule_reconciliation": "reconcile",
    # Webhooks to the product share the webhooks workers' threads (each call waits on the
    # receiver); their sweep is a short query, urgent like the inbox's.
    "fan_out_message": "webhooks",
    "deliver_webhook": "webhooks",
    "sweep_outbound_webhooks": "urgent",
}

# Jobs that may run longer than RQ's default timeout (180 s): a reconciliation run reads all of
# Stripe's lists (10,000 organizations took about a minute in bench/reconcile.py).
JOB_TIMEOUTS: dict[str, int] = {
    "reconcile_books": 4 * 3600,
    "schedule_reconciliation": 4 * 3600,
}
