package notify

import (
	"testing"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/worker"
)

// TestMessageIDPerStatusChange: a status e-mail's Message-ID is a function
// of the status change — case, record, partner, new status and the
// decision's instant — so every resend of one change (a retried step, a
// resume after a crash between the mail server's acceptance and the plan's
// record of it, with templates or public_url reloaded in between) is the
// same message, and every other change of the same case is another one.
func TestMessageIDPerStatusChange(t *testing.T) {
	cfg := config.Default()
	cfg.Mail.From = "Vendor partner program <partners@vendor.example>"
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	change := func(st registration.Status, at time.Time) worker.Notification {
		n := statusNote("sam@northwind.example")
		n.Status, n.At = st, at
		return n
	}
	first := messageID(&cfg, ptr(change(registration.StatusApproved, at)))

	resent := change(registration.StatusApproved, at)
	resent.Subject, resent.Text = "[R-7QK2M9XBHD] Globex is approved", "A new template.\nhttps://new.example/status/…\n"
	resent.StatusURL, resent.Message = "https://new.example/status/x", "reworded"
	if got := messageID(&cfg, &resent); got != first {
		t.Errorf("a resend rendered anew has Message-ID %q, want %q", got, first)
	}
	// The instant survives the plan's JSON (no monotonic reading, another
	// zone): the same id after a restart.
	local := change(registration.StatusApproved, at.In(time.FixedZone("EST", -5*3600)))
	if got := messageID(&cfg, &local); got != first {
		t.Errorf("the same instant in another zone: %q", got)
	}

	// approved → meeting_booked; approved, declined by hand, appealed,
	// approved again: each decision is a new message.
	seen := map[string]string{first: "approved"}
	for i, st := range []registration.Status{registration.StatusMeetingBooked, registration.StatusDeclined,
		registration.StatusAppealed, registration.StatusApproved} {
		id := messageID(&cfg, ptr(change(st, at.Add(time.Duration(i+1)*time.Hour))))
		if prev, ok := seen[id]; ok {
			t.Errorf("%s reuses the Message-ID of %s", st, prev)
		}
		seen[id] = string(st)
	}
	// Another case, same status and instant: another message.
	other := change(registration.StatusApproved, at)
	other.CaseNumber, other.RecordID = "R-8QK2M9XBHD", "1002"
	if messageID(&cfg, &other) == first {
		t.Error("two cases share a Message-ID")
	}

	// Without an instant (escalations, summaries) the text identifies it.
	sum := worker.Notification{Kind: worker.KindSummary, PartnerID: "northwind", RecordID: "summary/northwind/2026-W10",
		Subject: "Your week", Text: "3 registrations"}
	sum2 := sum
	sum2.Text = "4 registrations"
	if messageID(&cfg, &sum) != messageID(&cfg, ptr(sum)) || messageID(&cfg, &sum) == messageID(&cfg, &sum2) {
		t.Error("summary ids")
	}
}

func ptr[T any](v T) *T { return &v }
