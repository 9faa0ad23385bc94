// Package state is everything regsync keeps locally: one bbolt file
// (go.etcd.io/bbolt) holding sync cursors, the durable inbox of work items,
// idempotency keys, echo fingerprints and the audit log.
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
// reinterpretation of old bytes. Values are JSON, keys are bytes.
//
//	meta                 schema_version → JSON number (SchemaVersion)
//	cursors.v1           cursor name → {"value", "updated_at"}
//	inbox.v1             item key (crm/object/record id) → Item
//	inbox_order.v1       enqueued-at (8 bytes, big-endian) ‖ item key →
//	                     ready-at (8 bytes): the lease order and due index
//	dead.v1              item key → Item refused for good (a permanent
//	                     failure, Bury); transient ones never land here
//	idempotency.v1       idempotency key → {"value", "at", "expires_at"}
//	fingerprints.v1      record key → {"fp", "at"} of regsync's last write
//	audit.v1             sequence number (8 bytes, big-endian) → AuditEntry
//	audit_by_record.v1   record key ‖ 0x00 ‖ sequence → empty: AuditFor's index
//	plans.v1             record key → Plan: the worker's write-ahead intent
//	                     (schema version 2)
//	holds.v1             hold key → Hold: a submission waiting for something
//	                     outside regsync before it counts — the web form's,
//	                     for its submitter's address to be confirmed (schema
//	                     version 3). Owner: the web form (intake/webform);
//	                     lifetime: until its expires_at (intake.webform.
//	                     confirm_ttl; a confirmed one is kept a while longer
//	                     as a marker), then PurgeHolds drops it — the
//	                     daemon runs it every hour
//
// Open on an empty file creates every bucket and writes the schema version;
// a file from an older regsync is migrated in place, one version per
// transaction; a file from a newer regsync is refused (ErrSchemaTooNew).
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
// transaction starts, large scans (PurgeExpired) work in bounded chunks,
// and nothing in this package touches the network.
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
// with every call.
package state
