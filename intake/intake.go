// Package intake is what the no-portal channels (intake/email,
// intake/webform, intake/slack, intake/hubspotform, intake/csvdrop) share:
// the submission a channel extracts from a partner's input, the Funnel every
// submission goes through (its key and case number, the shared checks), the
// receipt the partner is told, and the Registrar that creates registrations
// in the CRM and decides them with the daemon's own pipeline. The fields'
// names, labels and form prompts come from the field registry
// (registration.Info).
package intake

import (
	"context"
	"time"

	"github.com/regsync/regsync/registration"
)

// Channels, written to the record's source field.
const (
	ChannelEmail       = "email"
	ChannelWebForm     = "webform"
	ChannelSlack       = "slack"
	ChannelHubSpotForm = "hubspot_form"
	ChannelCSV         = "csv"
)

// Submission is one registration a partner sent through a channel.
type Submission struct {
	// Key is the submission key: the same input always yields the same key
	// (an e-mail's Message-ID, a web form's nonce, a Slack trigger, a HubSpot
	// form's conversion id, a CSV row's partner, file digest and row), so a
	// retried or repeated submission upserts the same record and never
	// creates a second one. The case number is derived from it
	// (registration.CaseNumberFor). Funnel.Submission makes both, the same
	// way for every channel (SubmissionKey).
	Key string
	// Channel is one of the Channel constants.
	Channel string
	// Record holds the fields the partner gave. The channel sets
	// partner_id and partner_email only after authenticating the sender.
	Record registration.Record
}

// Receipt is what the partner is told about one submission.
type Receipt struct {
	ID         string // the CRM's record id
	CaseNumber string
	Status     registration.Status
	Reason     string
	// Message is partner-safe: it never names a rival partner or an
	// internal account owner.
	Message    string
	Missing    []string
	HoldUntil  time.Time
	MeetingDue time.Time
	// StatusURL is the login-free status page of the registration.
	StatusURL string
	// Created is false when the submission was already registered (the
	// same key): the receipt then describes the existing record.
	Created bool
	// Err is set when this submission could not be registered; the others
	// in the same call may have been.
	Err error
}

// Amendment actions a partner may take on their own registration.
const (
	// ActionSupply supplies fields (needs_info → submitted, decided again).
	ActionSupply = "supply"
	// ActionWithdraw withdraws an open registration.
	ActionWithdraw = "withdraw"
	// ActionAppeal appeals a decline (declined → appealed; an AE decides).
	ActionAppeal = "appeal"
)

// Amendment is a change a partner makes to their registration.
type Amendment struct {
	Action string
	// Fields are canonical field names → values (ActionSupply).
	Fields map[string]string
	// Note is the partner's text (an appeal's reason).
	Note string
}

// Registrar creates registrations in the CRM and decides them at once with
// the same rules and write-back as the daemon. The daemon's implementation
// goes through the real CRM connector.
type Registrar interface {
	// Register creates (upserts on the submission key) and decides each
	// submission. The result is parallel to subs.
	Register(ctx context.Context, subs []Submission) ([]Receipt, error)
	// Lookup returns the registration with this case number.
	Lookup(ctx context.Context, caseNumber string) (registration.Record, error)
	// Amend applies a partner's change to the registration with this case
	// number and returns where it stands afterwards.
	Amend(ctx context.Context, caseNumber string, a Amendment) (Receipt, error)
	// StatusURL is the login-free status link of a registration.
	StatusURL(caseNumber string) string
}

// Settler is implemented by Registrars whose registrations are decided
// after Register returns (the daemon's worker decides them; an approval
// may wait for the CRM's search to show every earlier rival): an import
// registers every row first, then collects the decisions at once.
type Settler interface {
	// Settle waits for the decisions of registrations Register created
	// and returns their receipts by case number; those still undecided
	// when it gives up are missing.
	Settle(ctx context.Context, caseNumbers []string) (map[string]Receipt, error)
}
