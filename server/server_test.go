package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/state"
)

type fakeAdmin struct {
	db       *state.DB
	reloads  int
	fail     error
	reloaded Reloaded
}

func (a *fakeAdmin) Reload() (Reloaded, error) {
	a.reloads++
	return a.reloaded, a.fail
}
func (a *fakeAdmin) State() *state.DB                       { return a.db }
func (a *fakeAdmin) Sweep(context.Context) (any, error)     { return map[string]int{"looked": 3}, nil }
func (a *fakeAdmin) Reconcile(context.Context) (any, error) { return nil, nil }
func (a *fakeAdmin) Poll(context.Context) (any, error)      { return nil, nil }
func (a *fakeAdmin) ready(context.Context) error            { return a.fail }

func TestOperatorEndpoints(t *testing.T) {
	db, err := state.Open(filepath.Join(t.TempDir(), "s.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := &fakeAdmin{db: db}
	s := New(Options{Admin: a, AdminToken: secret.New("tok-123"), Inbox: dbInbox{db}, Ready: a.ready})
	do := func(method, path, token, body string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h := s.Handler()
		if strings.HasPrefix(path, "/-/") {
			h = s.AdminHandler()
		}
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	// The public mux has no admin endpoint; the admin mux nothing else.
	for _, p := range []string{"/-/reload", "/-/sweep", "/-/inbox"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", p, nil)
		req.Header.Set("Authorization", "Bearer tok-123")
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s on the public mux = %d, want 404", p, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/readyz on the admin mux = %d, want 404", rec.Code)
	}
	// AdminOnPublic puts them on the public mux.
	shared := New(Options{Admin: a, AdminToken: secret.New("tok-123"), Inbox: dbInbox{db}, AdminOnPublic: true})
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/-/inbox", nil)
	req.Header.Set("Authorization", "Bearer tok-123")
	shared.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("/-/inbox on the public mux with AdminOnPublic = %d", rec.Code)
	}
	if code, body := do("GET", "/healthz", "", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _ := do("GET", "/readyz", "", ""); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}
	a.fail = errors.New("crm hubspot: unreachable")
	if code, body := do("GET", "/readyz", "", ""); code != 503 || strings.Contains(body, "unreachable") || !strings.Contains(body, `"ready": false`) {
		t.Errorf("/readyz when the CRM is down = %d %s, want 503 without the problem", code, body)
	}
	if code, body := do("GET", "/-/readyz", "tok-123", ""); code != 503 || !strings.Contains(body, "unreachable") {
		t.Errorf("/-/readyz when the CRM is down = %d %s, want 503 with the problem", code, body)
	}
	if code, _ := do("GET", "/-/readyz", "", ""); code != http.StatusUnauthorized {
		t.Errorf("/-/readyz without the token = %d, want 401", code)
	}
	a.fail = nil
	if code, body := do("GET", "/-/readyz", "tok-123", ""); code != 200 || !strings.Contains(body, `"ready": true`) {
		t.Errorf("/-/readyz = %d %s", code, body)
	}
	for _, tok := range []string{"", "wrong"} {
		if code, _ := do("POST", "/-/reload", tok, ""); code != http.StatusUnauthorized {
			t.Errorf("/-/reload with token %q = %d, want 401", tok, code)
		}
	}
	if a.reloads != 0 {
		t.Fatal("an unauthenticated request reloaded the configuration")
	}
	if code, body := do("POST", "/-/reload", "tok-123", ""); code != 200 || a.reloads != 1 ||
		!strings.Contains(body, `"applied": []`) || !strings.Contains(body, `"restart_required": []`) {
		t.Errorf("/-/reload = %d %s (%d reloads)", code, body, a.reloads)
	}
	// The answer lists what was applied and what waits for a restart.
	a.reloaded = Reloaded{Applied: []string{"schedule.sweep"}, RestartRequired: []string{"worker.concurrency", "hubspot.token"}}
	code, body := do("POST", "/-/reload", "tok-123", "")
	var got struct {
		OK              bool     `json:"reloaded"`
		Applied         []string `json:"applied"`
		RestartRequired []string `json:"restart_required"`
	}
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || !got.OK ||
		!slices.Equal(got.Applied, a.reloaded.Applied) || !slices.Equal(got.RestartRequired, a.reloaded.RestartRequired) {
		t.Errorf("/-/reload with changes = %d %s", code, body)
	}
	a.reloaded = Reloaded{}
	a.fail = errors.New("regsync.yaml:3: field hold_windw not found")
	if code, body := do("POST", "/-/reload", "tok-123", ""); code != 400 || !strings.Contains(body, "hold_windw") {
		t.Errorf("a bad reload = %d %s", code, body)
	}
	if code, body := do("POST", "/-/sweep", "tok-123", ""); code != 200 || !strings.Contains(body, `"looked": 3`) {
		t.Errorf("/-/sweep = %d %s", code, body)
	}
	if code, body := do("GET", "/-/inbox", "tok-123", ""); code != 200 || !strings.Contains(body, `"pending": 0`) {
		t.Errorf("/-/inbox = %d %s", code, body)
	}
	if code, _ := do("POST", "/-/inbox/retry", "tok-123", `{"keys":[]}`); code != 400 {
		t.Errorf("/-/inbox/retry without keys = %d, want 400", code)
	}
	if code, body := do("POST", "/-/inbox/drop", "tok-123", `{"keys":["hubspot/x/1"]}`); code != http.StatusConflict || !strings.Contains(body, "not found") {
		t.Errorf("dropping a missing dead letter = %d %s", code, body)
	}

	// Without a token the admin endpoints are closed to everyone.
	closed := New(Options{Admin: a, Inbox: dbInbox{db}})
	req = httptest.NewRequest("POST", "/-/reload", nil)
	req.Header.Set("Authorization", "Bearer ")
	rec = httptest.NewRecorder()
	closed.AdminHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("admin without a configured token = %d, want 403", rec.Code)
	}
}
