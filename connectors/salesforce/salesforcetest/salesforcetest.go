// Package salesforcetest starts the fake Salesforce org of
// sandbox/salesforce for tests, like net/http/httptest: Start serves one on
// a loopback port and its Close stops everything it started. It names the
// fake's types, constants and SOQL parser as they were named when the fake
// lived here, so that tests read salesforcetest.Options and
// salesforcetest.Server; anything else of the fake's is in
// sandbox/salesforce.
//
// The fake itself is a production package because the binary serves it
// (`regsync sandbox --crm salesforce`); this one is never linked into the
// binary.
package salesforcetest

import (
	salesforce "github.com/regsync/regsync/sandbox/salesforce"
)

// Server is the fake org; Options configures it; Faults are the failures
// it injects until changed.
type (
	Server  = salesforce.Server
	Options = salesforce.Options
	Faults  = salesforce.Faults
)

// Start builds a fake org and serves it on opts.Addr (default
// 127.0.0.1:0).
func Start(opts Options) (*Server, error) {
	s, err := salesforce.New(opts)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := s.Listen(addr); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// The sandbox org's credentials and organization id.
const (
	DefaultClientID       = salesforce.DefaultClientID
	DefaultClientSecret   = salesforce.DefaultClientSecret
	DefaultOrganizationID = salesforce.DefaultOrganizationID
	DefaultWebhookSecret  = salesforce.DefaultWebhookSecret
)

// An OutboundMessage sends notifications of an object's changes.
type OutboundMessage = salesforce.OutboundMessage

// RegistrationObject is the custom object of partner registrations.
const RegistrationObject = salesforce.RegistrationObject

// A Field is an sObject field, as AddField takes it.
type Field = salesforce.Field

// Field types.
const (
	TypeString   = salesforce.TypeString
	TypePicklist = salesforce.TypePicklist
)

// ParseSOQL parses a query as the fake org does (salesforce.ParseSOQL).
func ParseSOQL(q string) (*salesforce.Query, error) { return salesforce.ParseSOQL(q) }

// The parsed WHERE clause: And, Or and Cond.
type (
	And  = salesforce.And
	Or   = salesforce.Or
	Cond = salesforce.Cond
)

// KindString is the kind of a string literal; WildAny is % in a LIKE
// pattern.
const (
	KindString = salesforce.KindString
	WildAny    = salesforce.WildAny
)

// MatchLike matches s against a parsed LIKE pattern as the fake org does
// (salesforce.MatchLike).
func MatchLike(pattern []rune, s string) bool { return salesforce.MatchLike(pattern, s) }
