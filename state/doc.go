// Package state is everything regsync keeps locally: one bbolt file
// (go.etcd.io/bbolt) holding sync cursors, the durable inbox of work items,
// idempotency keys, echo fingerprints, the worker's plans, held
// submissions, markers of side effects done, and the audit log.
//
// The CRM stays the source of truth. The state file only remembers what
// regsync must not forget between restarts: where each poll stopped, which
// records still have to be looked at, which deliveries were already handled,
// what regsync itself last wrote, and why it decided what it decided.
//
// # Buckets
//
// Every bucket except meta carries a version in its name; a change of
// layout gets a new bucket name and a migration, never a silent
// reinterpretation of old bytes. Values are JSON, keys are bytes. Each
// bucket holds one kind of thing, with its owner and its lifetime:
//
//	meta                 schema_version → JSON number (SchemaVersion)
//	cursors.v1           cursor name → {"value", "updated_at"}: where each
//	                     change feed stopped (poll/<crm>/<object>, the
//	                     HubSpot form poller's hubspot_form/<guid>). Kept:
//	                     one per feed, overwritten.
//	inbox.v1             item key (crm/object/record id) → Item
//	inbox_order.v1       enqueued-at (8 bytes, big-endian) ‖ item key →
//	                     ready-at (8 bytes): the lease order and due index.
//	                     Kept until acked.
//	dead.v1              item key → Item refused for good (a permanent
//	                     failure, Bury); transient ones never land here.
//	                     Kept until an operator retries or drops it.
//	idempotency.v1       key → {"value", "at", "expires_at"}: what a retry
//	                     of an operation must find again (Remember) — the
//	                     weekly summaries' composed messages. Until the
//	                     caller's TTL.
//	fingerprints.v1      record key → {"fp", "at"} of regsync's last write
//	                     or observation of a registration. Never expired
//	                     (see below).
//	audit.v1             sequence number (8 bytes, big-endian) → AuditEntry.
//	                     Kept for the audit retention (state.audit_retention,
//	                     default 400 days), then PurgeAudit deletes it.
//	audit_by_record.v1   record key ‖ 0x00 ‖ sequence → empty: AuditFor's
//	                     index, deleted with its entry
//	plans.v1             record key → Plan: the worker's write-ahead intent
//	                     (schema version 2). Kept until its last step is
//	                     done, however long: never expired.
//	holds.v1             hold key → Hold: a submission waiting for something
//	                     outside regsync before it counts — the web form's,
//	                     for its submitter's address to be confirmed (schema
//	                     version 3). Owner: the web form (intake/webform);
//	                     until its expires_at (intake.webform.confirm_ttl;
//	                     a confirmed one is kept a while longer as a marker)
//	escalations.v1       "escalated/<record key>/<due>" → {"value", "at",
//	                     "expires_at"}: an SLA escalation was sent (the
//	                     worker's sweep; the key is also the CRM task's).
//	                     EscalationTTL, renewed by every sweep that still
//	                     finds the registration overdue (schema version 4)
//	summaries.v1         "summary/<partner>/<ISO week>" → the same: that
//	                     week's summary was sent (the daemon). SummaryTTL
//	                     (schema version 4)
//	slack_origins.v1     case number → the same, value the Slack origin
//	                     (team, channel, thread, what was posted) of a
//	                     registration made in Slack (the daemon's notifier).
//	                     SlackOriginTTL after its last update (schema
//	                     version 4)
//
// Version 3 kept escalation and summary markers among the fingerprints and
// Slack origins among the cursors; migrateV4 moved them (migrate.go).
//
// # Lifetimes
//
// The maintenance loop (Maintain; the daemon runs it hourly) deletes what
// has expired: idempotency keys, markers and Slack origins past their
// expires_at, holds past theirs, audit entries older than the retention.
// A TTL is only as long as a marker must outlive the thing it guards, so
// that its absence can never make a side effect happen twice:
//
//   - a summary is only ever sent for the current ISO week, so its marker
//     (and its composed message) can go after three weeks;
//   - an escalation's registration may wait unanswered indefinitely, so
//     the marker lives as long as sweeps keep finding it overdue (Keep
//     renews it); only a marker no sweep asked about for half of
//     EscalationTTL — 200 days — can expire;
//   - a lost Slack origin only stops status posts to that thread, it
//     never repeats one; it is kept 400 days after its last post.
//
// Record fingerprints are never expired by time. A fingerprint is how the
// worker tells its own write from a human's change, and what the status
// was before: without it a registration's next read could be followed
// through as a manual change (a decision and a partner e-mail again, for
// a record regsync never decided), or a human's change could go unseen.
// There is one per registration, overwritten in place, so the bucket grows
// with the registrations the CRM itself keeps (a few hundred bytes each),
// not with events. Dead letters wait for an operator and plans for their last
// step; the inbox holds only work not yet done; cursors are one per feed.
//
// bbolt reuses the pages purges free but never shrinks the file: a steady
// file size is the sign of health (docs/state.md has measured figures).
//
// # Durability
//
// Every method that changes the file returns nil only after bbolt has
// committed and fsynced the transaction (NoSync is never set).
//
// The two writes made by concurrent HTTP handlers, Enqueue and Remember, go
// through bbolt's Batch: calls arriving within DB.MaxBatchDelay (10ms) share
// one transaction and one fsync, at the price of up to 10ms latency for a
// lone caller. The worker's writes (Lease, Ack, Retry, SetFingerprint,
// Append, …) use plain transactions: they are made one after another by few
// goroutines, where the batch delay would cost more than the fsync it saves.
// A caller with many items passes them to one Enqueue or Append call.
//
// No transaction is held across anything slow: the clock is read before a
// transaction starts, purges read in bounded chunks and take the write
// lock only to delete what they found, a migration is one transaction, and
// nothing in this package touches the network.
//
// # Who opens the file
//
// Only one process opens the state file: `regsync serve`. bbolt takes an
// exclusive lock on it, and a second Open waits Options.Timeout for the lock
// and then fails with ErrInUse. Commands that need the state while the
// daemon runs (`regsync inbox`, `regsync sweep`) ask the daemon through its
// token-protected admin endpoints (/-/…); when no daemon runs they open the
// file themselves. `import` and `report` need no local state.
//
// Time always comes from Options.Now, so tests drive leases, backoff and
// expiry with a fake clock — except for holds, which live in the time of
// the channel that keeps them (the daemon's business clock) and take it
// with every call, and audit entries, whose time the caller may set; the
// maintenance loop compares both with Maintenance.Now.
package state
