"""RQ jobs and the scheduler registration. Jobs take ids and build nothing themselves."""

# Job names the domain enqueues, resolved to the functions RQ imports in the worker.
JOB_PATHS: dict[str, str] = {
    "process_webhook_event": "entrypoints.worker.jobs.process_webhook_event",
    "sweep_webhook_inbox": "entrypoints.worker.jobs.sweep_webhook_inbox",
    "flush_quota_ledger": "entrypoints.worker.jobs.flush_quota_ledger",
    "invoice_organization": "entrypoints.worker.jobs.invoice_organization",
    "schedule_monthly_invoicing": "entrypoints.worker.jobs.schedule_monthly_invoicing",
    "check_dunning": "entrypoints.worker.jobs.check_dunning_job",
}
