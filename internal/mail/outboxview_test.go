package mail

import (
	"context"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"
)

// /sandbox/outbox lists the e-mails the sandbox wrote instead of sending
// them, newest first, and shows one: everything HTML-escaped, links to
// this site (a confirmation link) clickable, any other link plain text;
// only outbox files can be named.
func TestSandboxOutboxPages(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	ob, err := NewOutbox(dir, "Partner program <partners@vendor.example>", Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	send := func(subject, text string) {
		t.Helper()
		if err := ob.Send(context.Background(), &Message{To: []mail.Address{{Address: "sam@northwind.example"}}, Subject: subject, Text: text}); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Minute)
	}
	send("First", "hello")
	send(`Confirm your registration: <script>alert(1)</script>`, "Open http://127.0.0.1:9/register/confirm/abc_DEF-1 to confirm.\n"+
		"Not this one: https://evil.example/phish <b>bold</b>")
	h := OutboxViewer{Dir: dir, Path: "/sandbox/outbox", Public: "http://127.0.0.1:9"}
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	code, page := get("/sandbox/outbox")
	if code != 200 || strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") ||
		strings.Index(page, "Confirm your registration") > strings.Index(page, "First") {
		t.Fatalf("list: %d\n%s", code, page)
	}
	m := regexp.MustCompile(`href="(/sandbox/outbox/[^"]+\.eml)"`).FindAllStringSubmatch(page, -1)
	if len(m) != 2 {
		t.Fatalf("links in the list: %v", m)
	}
	code, page = get(m[0][1])
	if code != 200 || !strings.Contains(page, `<a href="http://127.0.0.1:9/register/confirm/abc_DEF-1">http://127.0.0.1:9/register/confirm/abc_DEF-1</a>`) ||
		strings.Contains(page, `href="https://evil.example`) || !strings.Contains(page, "&lt;b&gt;bold&lt;/b&gt;") ||
		!strings.Contains(page, "sam@northwind.example") || strings.Contains(page, "<script>") {
		t.Errorf("message: %d\n%s", code, page)
	}
	for _, bad := range []string{"/sandbox/outbox/../outbox.eml", "/sandbox/outbox/.tmp-1.eml", "/sandbox/outbox/nope.eml", "/sandbox/outbox/x.txt"} {
		if code, _ := get(bad); code != 404 {
			t.Errorf("%s: %d", bad, code)
		}
	}
}
