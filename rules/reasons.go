package rules

import (
	"strconv"
	"strings"
	"time"

	"github.com/regsync/regsync/registration"
)

// Reason codes. They are written to the CRM's status_reason field and are a
// stable contract: never rename one.
const (
	ReasonMissingFields       = "missing_fields"
	ReasonUnknownPartner      = "unknown_partner"
	ReasonPartnerInactive     = "partner_inactive"
	ReasonSubmitterNotPartner = "submitter_not_partner"
	ReasonFreeEmailDomain     = "free_email_domain"
	ReasonBlockedAccount      = "blocked_account"
	ReasonDuplicate           = "duplicate"
	ReasonExistingDeal        = "existing_deal"
	ReasonConflictProtected   = "conflict_protected"
	ReasonConflictPending     = "conflict_pending"
	ReasonConflictLost        = "conflict_lost"
	ReasonPossibleDuplicate   = "possible_duplicate"
	ReasonPartnerCapReached   = "partner_cap_reached"
	ReasonNoTerritory         = "no_territory"
	ReasonApproved            = "approved"
	ReasonMeetingLogged       = "meeting_logged"
	ReasonNoMeeting           = "no_meeting"
	ReasonWindowEnded         = "window_ended"
	ReasonManual              = "manual"
	ReasonManualOverride      = "manual_override"
	ReasonAppealed            = "appealed"
	ReasonWithdrawn           = "withdrawn"
	ReasonDealCreated         = "deal_created"
	ReasonWon                 = "won"
	ReasonLost                = "lost"
	ReasonNeedsInfoExpired    = "needs_info_expired"
)

// Reasons lists every reason code with what it means, in the order of the
// checks that produce them.
var Reasons = []struct{ Code, Meaning string }{
	{ReasonMissingFields, "needs_info: a required field is blank or unusable (Missing lists them)"},
	{ReasonUnknownPartner, "declined: partner_id is not in the partner list"},
	{ReasonPartnerInactive, "declined: the partner is marked active: false"},
	{ReasonSubmitterNotPartner, "declined: partner_email's domain is not one of the partner's email_domains"},
	{ReasonFreeEmailDomain, "needs_info: company_domain is a free-mail provider"},
	{ReasonBlockedAccount, "declined: company_domain or a parent domain is blocked"},
	{ReasonDuplicate, "declined: the same partner already holds an earlier active registration on the domain"},
	{ReasonExistingDeal, "declined or in_review (rules.existing_deal): an open deal not sourced by this partner"},
	{ReasonConflictProtected, "declined: another partner's registration protects the company"},
	{ReasonConflictPending, "in_review: another partner's earlier registration is still undecided"},
	{ReasonConflictLost, "declined: first_meeting_wins and a rival logged the first meeting first"},
	{ReasonPossibleDuplicate, "in_review: same company name as another partner's active registration on another domain"},
	{ReasonPartnerCapReached, "declined: the partner holds rules.caps.active_per_partner active registrations"},
	{ReasonNoTerritory, "in_review: no territory matches and rules.unassigned is review"},
	{ReasonApproved, "approved: every check passed; hold window and meeting deadline set"},
	{ReasonMeetingLogged, "meeting_booked: first meeting logged in time; window extended"},
	{ReasonNoMeeting, "expired: no first meeting by the meeting deadline"},
	{ReasonWindowEnded, "expired: the hold window ended"},
	{ReasonManual, "any: an AE decided in the CRM"},
	{ReasonManualOverride, "any: an AE set a status the transition table does not allow; kept and audited"},
	{ReasonAppealed, "appealed: the partner appealed a decline"},
	{ReasonWithdrawn, "withdrawn: the partner withdrew the registration"},
	{ReasonDealCreated, "converted: a deal was opened from the registration"},
	{ReasonWon, "won: the deal closed won"},
	{ReasonLost, "lost: the deal closed lost"},
	{ReasonNeedsInfoExpired, "expired: the partner did not send the missing details within rules.needs_info_expire_days"},
}

// messages are the partner-safe texts for each reason. They never name a
// rival partner, a rival's case or an internal owner.
var messages = map[string]string{
	ReasonUnknownPartner:           "We could not match this registration to a member of our partner program. Please contact your partner manager.",
	ReasonPartnerInactive:          "Your partner account is not active, so we cannot accept registrations from it right now. Please contact your partner manager.",
	ReasonSubmitterNotPartner:      "This registration was not sent from an address registered to your partner account. Please send it from your company e-mail address.",
	ReasonFreeEmailDomain:          "The company domain is a free e-mail provider. Please send us the prospect's own company website domain.",
	ReasonBlockedAccount:           "This company is managed directly by our team and cannot be registered by partners.",
	ReasonExistingDeal:             "Our team is already working an opportunity with this company, so it cannot be registered.",
	ReasonExistingDeal + "/review": "Our team is already in contact with this company. An account executive will review your registration and get back to you.",
	ReasonConflictProtected:        "This company is already protected by another registration, so we cannot accept yours.",
	ReasonConflictPending:          "An earlier registration for this company is being reviewed. We will decide yours as soon as it is settled.",
	ReasonConflictLost:             "Another registration for this company logged its first meeting first, so protection for yours has ended.",
	ReasonPossibleDuplicate:        "This company may already be registered under another domain. Our team is checking and will get back to you.",
	ReasonNoTerritory:              "Your registration is with our team for review. We will get back to you shortly.",
}

// FieldLabel is a partner-friendly name for a record field (the
// registry's label, registration.FieldLabel).
func FieldLabel(name string) string { return registration.FieldLabel(name) }

func msgMissing(fields []string) string {
	labels := make([]string, len(fields))
	for i, f := range fields {
		labels[i] = FieldLabel(f)
	}
	return "We need a few more details before we can review this registration: " + strings.Join(labels, "; ") +
		". Reply with them and we will pick it up right away."
}

func msgDuplicate(caseNumber string) string {
	if caseNumber == "" {
		return "You have already registered this company."
	}
	return "You have already registered this company (case " + caseNumber + ")."
}

func msgCap(limit int) string {
	return "You already hold " + strconv.Itoa(limit) + " active registrations, the most the program allows at once. Withdraw or close one to register another."
}

func msgApproved(hold, meeting time.Time) string {
	return "Approved. This company is registered to you until " + fmtDate(hold) +
		". Log a first meeting with the prospect by " + fmtDate(meeting) + " to keep the protection."
}

func msgMeeting(hold time.Time) string {
	return "First meeting logged. This company is registered to you until " + fmtDate(hold) + "."
}

func msgNoMeeting(due time.Time) string {
	return "No first meeting was logged by " + fmtDate(due) + ", so the protection for this registration has lapsed."
}

func msgNeedsInfoExpired(days int) string {
	return "We did not receive the missing details within " + strconv.Itoa(days) +
		" days, so this registration has expired. You are welcome to register the company again with every detail."
}

func msgWindowEnded(hold time.Time) string {
	return "The protection window for this registration ended on " + fmtDate(hold) + "."
}
