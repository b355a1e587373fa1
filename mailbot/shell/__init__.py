"""Effects: mailbox, transport, clock, the pipeline, outbox, scheduler, daemon."""
