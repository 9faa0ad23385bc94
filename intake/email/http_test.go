package email

import (
	"strings"
	"testing"
	"time"
)

// The handler answers when its deadline passes, even when the CRM never
// does and the client waits for ever.
func TestHandlerStopsAtItsDeadline(t *testing.T) {
	reg := newFakeRegistrar()
	reg.block = make(chan struct{})
	defer close(reg.block)
	srv := loopback(t, channel(t, func(o *Options) {
		o.Registrar = reg
		o.Config.ProcessingTimeout = 200 * time.Millisecond
	}))
	code, body := send(t, srv, "message/rfc822", raw("sam@northwind.example", "New", "", "Company: Globex\nWebsite: globex.example"), 30*time.Second)
	if code != 503 || !strings.Contains(body, "not processed within 200ms") {
		t.Errorf("%d %s, want 503 …not processed within 200ms…", code, body)
	}
}
