package report

import (
	"time"

	"github.com/regsync/regsync/registration"
	"github.com/regsync/regsync/rules"
)

// Summaries composes every partner's summary from registrations in memory.
func Summaries(p *rules.Policy, regs []registration.Record, now time.Time, opt SummaryOptions) []Summary {
	b := NewSummaryBuilder(p, now, opt)
	_ = b.Add(regs)
	out, _ := b.Result()
	return out
}

// Compute is New, Add, AddDeals and Result in one call, for records already
// in memory.
func Compute(p *rules.Policy, regs []registration.Record, deals []registration.Deal, opt Options) (Report, error) {
	a, err := New(p, opt)
	if err != nil {
		return Report{}, err
	}
	_ = a.Add(regs)
	_ = a.AddDeals(deals)
	return a.Result(), nil
}
