// Package crmfault injects the failures a CRM's API shows in production —
// rate limits, 5xx answers, connections reset before or after the request
// was applied, truncated bodies, latency — into the fake CRMs
// (sandbox/hubspot, sandbox/salesforce), chosen by a seeded random source
// so that a run can be repeated.
//
// A Spec says how often and which: "0.2" faults a fifth of the requests,
// every kind equally likely; "0.1,429=2,reset_after=1" faults a tenth, two
// in three of them 429s. An Injector draws from a Spec with a seed, and a
// Handler puts it in front of a fake's handler; the fake supplies the
// answers only it can give in its CRM's words (Shapes).
package crmfault

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is a kind of fault.
type Kind int

// The kinds of fault. "Before" kinds answer without the fake seeing the
// request (nothing is applied); "after" kinds let the fake apply it and
// then spoil the answer, so the client cannot tell whether it happened.
const (
	// RateLimit answers as the CRM does when a rate limit refuses a
	// request (HubSpot 429 TEN_SECONDLY_ROLLING, Salesforce 403
	// REQUEST_LIMIT_EXCEEDED). Not applied.
	RateLimit Kind = iota
	// ServerErrorBefore answers a 5xx in the CRM's shape. Not applied.
	ServerErrorBefore
	// ServerErrorAfter applies the request, then answers a 5xx instead.
	ServerErrorAfter
	// ResetBefore resets the connection without an answer. Not applied.
	ResetBefore
	// ResetAfter applies the request, then resets the connection
	// without an answer.
	ResetAfter
	// Truncate applies the request, then sends only part of its body:
	// either under the full Content-Length, the connection closing early
	// (the client reads an unexpected EOF), or as a complete but shorter
	// answer (the client reads cut JSON).
	Truncate
	// Latency delays the request, then serves it as usual.
	Latency

	numKinds = iota
)

var kindNames = [numKinds]string{"429", "5xx_before", "5xx_after", "reset_before", "reset_after", "truncate", "latency"}

// Kinds lists every kind, in the order of the constants.
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// String is the kind's name in a spec ("429", "reset_after", …).
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// Applied reports whether the fake applies a request that gets this fault.
func (k Kind) Applied() bool {
	switch k {
	case ServerErrorAfter, ResetAfter, Truncate, Latency:
		return true
	}
	return false
}

// ParseKind reads a kind's name.
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if s == n {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown fault kind %q (kinds: %s)", s, strings.Join(kindNames[:], ", "))
}

// Spec is how often requests fail and how: Rate is the share of requests
// that get a fault (0 to 1); Weights, when set, restricts the faults to the
// kinds it names, each drawn in proportion to its weight. With no Weights
// every kind is equally likely.
type Spec struct {
	Rate    float64
	Weights map[Kind]float64
}

// Syntax is the form Parse reads, for help texts.
const Syntax = "RATE[,KIND=WEIGHT...]"

// Parse reads a spec of the form RATE[,KIND=WEIGHT...]: "0.2",
// "0.05,429=3,5xx_after=1". RATE is the share of requests faulted, between
// 0 and 1; naming kinds restricts the faults to them, in proportion to
// their weights (non-negative numbers, not all 0). Its errors name the
// part at fault, without a prefix: callers add the flag or key.
func Parse(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Spec{}, errors.New("empty fault spec (want " + Syntax + ", e.g. 0.2 or 0.1,429=2,reset_after=1)")
	}
	parts := strings.Split(s, ",")
	rateText := strings.TrimSpace(parts[0])
	rate, err := strconv.ParseFloat(rateText, 64)
	if err != nil || math.IsNaN(rate) {
		return Spec{}, fmt.Errorf("fault rate %q is not a number", rateText)
	}
	if rate < 0 || rate > 1 {
		return Spec{}, fmt.Errorf("fault rate %s is not between 0 and 1", rateText)
	}
	sp := Spec{Rate: rate}
	if len(parts) == 1 {
		return sp, nil
	}
	sp.Weights = map[Kind]float64{}
	total := 0.0
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		name, wText, ok := strings.Cut(p, "=")
		name, wText = strings.TrimSpace(name), strings.TrimSpace(wText)
		if !ok || name == "" {
			return Spec{}, fmt.Errorf("%q is not KIND=WEIGHT", p)
		}
		k, err := ParseKind(name)
		if err != nil {
			return Spec{}, err
		}
		if _, dup := sp.Weights[k]; dup {
			return Spec{}, fmt.Errorf("fault kind %s named twice", k)
		}
		w, err := strconv.ParseFloat(wText, 64)
		if err != nil || math.IsNaN(w) || math.IsInf(w, 0) {
			return Spec{}, fmt.Errorf("%s=%s: weight %q is not a number", name, wText, wText)
		}
		if w < 0 {
			return Spec{}, fmt.Errorf("%s=%s: weight is negative", name, wText)
		}
		sp.Weights[k] = w
		total += w
	}
	if total == 0 {
		return Spec{}, errors.New("every fault kind named has weight 0")
	}
	return sp, nil
}

// String is the spec in Parse's syntax.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(strconv.FormatFloat(s.Rate, 'g', -1, 64))
	for _, k := range Kinds() {
		if w, ok := s.Weights[k]; ok {
			fmt.Fprintf(&b, ",%s=%s", k, strconv.FormatFloat(w, 'g', -1, 64))
		}
	}
	return b.String()
}

// shares are the probabilities of each kind given a fault.
func (s Spec) shares() [numKinds]float64 {
	var sh [numKinds]float64
	total := 0.0
	for _, w := range s.Weights {
		total += w
	}
	for i := range sh {
		switch {
		case total == 0:
			sh[i] = 1 / float64(numKinds)
		default:
			sh[i] = s.Weights[Kind(i)] / total
		}
	}
	return sh
}

// Describe says the spec in words: "20% of requests: 429, 5xx_before, …
// equally likely", "10% of requests: 429 67%, reset_after 33%".
func (s Spec) Describe() string {
	pct := func(f float64) string { return strconv.FormatFloat(100*f, 'f', -1, 64) + "%" }
	head := pct(s.Rate) + " of requests"
	if s.Rate == 0 {
		return "none (rate 0)"
	}
	sh := s.shares()
	if len(s.Weights) == 0 {
		return head + ": " + strings.Join(kindNames[:], ", ") + ", equally likely"
	}
	var parts []string
	for _, k := range Kinds() {
		if sh[k] > 0 {
			parts = append(parts, k.String()+" "+strconv.FormatFloat(100*sh[k], 'f', 0, 64)+"%")
		}
	}
	return head + ": " + strings.Join(parts, ", ")
}
