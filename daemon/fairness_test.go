package daemon

// First come, first served — the regression tests of its acceptance
// points. The randomised torture test (torture_test.go) proves the
// invariant over mixed paths, faults and kills; these pin the scenarios a
// user saw go wrong.

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/connectors/salesforce/salesforcetest"
	"github.com/regsync/regsync/intake"
	islack "github.com/regsync/regsync/intake/slack"
	"github.com/regsync/regsync/intake/slack/slacktest"
	"github.com/regsync/regsync/intake/webform"
	"github.com/regsync/regsync/internal/secret"
	"github.com/regsync/regsync/registration"
)

var fairSeed = flag.Uint64("fair.seed", 0, "seed of TestFairSameInstantAcrossChannels (0: a new one, printed)")

// fairPartners is the partner program of the fairness tests: ten partners
// p0…p9 writing from pN.example, and an inactive one.
func fairPolicy(policy string) string {
	var b strings.Builder
	b.WriteString("partners:\n")
	for i := range 10 {
		fmt.Fprintf(&b, "  - {id: p%d, name: Partner %d, email_domains: [p%d.example]}\n", i, i, i)
	}
	b.WriteString("  - {id: gone, name: Gone Partners, email_domains: [gone.example], active: false}\n")
	fmt.Fprintf(&b, "rules:\n  conflict: {policy: %s}\n  unassigned: approve\n", policy)
	return b.String()
}

const (
	fairEmailToken  = "inbound-mail-token-fairness"
	fairSlackSecret = "slack-signing-secret-fairness"
	fairSlackToken  = "xoxb-fairness-bot-token"
	fairStatusKey   = "status-page-key-of-the-fairness-tests"
	fairAdminToken  = "fairness-admin-token-0123456789abcdef"
	fairLinkKey     = "web-form-link-key-of-the-fairness-tests"
)

// fairRig is a daemon over a fake CRM with the web form, e-mail and Slack
// channels on, on the real clock (the settle time is real time).
type fairRig struct {
	*harness
	slack  *slacktest.Server
	base   string
	client *http.Client
	// later receives the Slack answers posted to response_url (a
	// registration that takes longer than Slack's three seconds).
	later *httptest.Server
	mu    sync.Mutex
	posts map[string]string // trigger → text posted
}

func startFair(t *testing.T, c crm, o harnessOpts, policy string) *fairRig {
	t.Helper()
	api := slacktest.Start(t, fairSlackToken)
	for i := range 10 {
		api.AddUser(slacktest.User{ID: fmt.Sprintf("U%d", i), TeamID: "T1", Email: fmt.Sprintf("sam@p%d.example", i), RealName: fmt.Sprintf("Sam %d", i)})
	}
	o.realClock = true
	o.policy = fairPolicy(policy)
	o.adminToken = fairAdminToken
	o.extra += fmt.Sprintf(`intake:
  status_page: {key: %q}
  email: {enabled: true, token: %q, address: partners@vendor.example}
  webform: {enabled: true, link_key: %q, rate_limit: {per_hour: 0, per_partner_per_hour: 0}, captcha: {provider: none}}
  slack: {enabled: true, signing_secret: %q, bot_token: %q, api_url: %q}
`, fairStatusKey, fairEmailToken, fairLinkKey, fairSlackSecret, fairSlackToken, api.APIURL())
	h := startHarness(t, c, o)
	r := &fairRig{harness: h, slack: api, base: h.d.public, posts: map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	r.later = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(req.Body)
		r.mu.Lock()
		r.posts[req.URL.Query().Get("trigger")] += b.String()
		r.mu.Unlock()
	}))
	t.Cleanup(r.later.Close)
	return r
}

// laterCase waits for the case number Slack's response_url received.
func (r *fairRig) laterCase(trigger string, within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		m := reAnyCase.FindString(r.posts[trigger])
		r.mu.Unlock()
		if m != "" {
			return m, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("slack: no case number posted to response_url within %s", within)
}

// fairFields is a complete registration of company n on domain by partner p.
func fairFields(p int, domain, company string) map[string]string {
	return map[string]string{
		"status": "submitted", "partner_id": fmt.Sprintf("p%d", p), "partner_email": fmt.Sprintf("sam@p%d.example", p),
		"company_name": company, "company_domain": domain, "contact_name": "Ann Lee", "contact_email": "ann@" + domain,
		"problem": "Spreadsheets everywhere.", "consent": "true",
	}
}

// byCase finds a registration by case number in the fake (not through
// search, which lags).
func (r *fairRig) byCase(cn string) (string, map[string]string) {
	r.t.Helper()
	switch f := r.crm.(type) {
	case *hubspotFake:
		rec, ok := f.hs.FindRecord(f.typeID, "case_number", cn)
		if !ok {
			return "", nil
		}
		return rec.ID, r.crm.Get(r.t, rec.ID)
	case *salesforceFake:
		ids := f.sf.Find(salesforcetest.RegistrationObject, "Case_Number__c", cn)
		if len(ids) != 1 {
			return "", nil
		}
		return ids[0], r.crm.Get(r.t, ids[0])
	}
	r.t.Fatalf("no lookup by case for %T", r.crm)
	return "", nil
}

// createdAt is the CRM's creation time of a record.
func (r *fairRig) createdAt(id string) time.Time {
	r.t.Helper()
	switch f := r.crm.(type) {
	case *hubspotFake:
		rec, _ := f.hs.GetRecord(f.typeID, id)
		return rec.CreatedAt
	case *salesforceFake:
		v, _ := f.sf.Get(salesforcetest.RegistrationObject, id)
		t, _ := v["CreatedDate"].(time.Time)
		return t
	}
	return time.Time{}
}

// decided waits until none of ids is submitted any more.
func (r *fairRig) decided(ids []string, within time.Duration) map[string]map[string]string {
	r.t.Helper()
	deadline := time.Now().Add(within)
	out := map[string]map[string]string{}
	for _, id := range ids {
		for {
			p := r.crm.Get(r.t, id)
			if s := p["status"]; s != "" && s != "submitted" {
				out[id] = p
				break
			}
			if time.Now().After(deadline) {
				r.t.Fatalf("registration %s not decided within %s: %v", id, within, p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

// final waits until every registration of ids has its outcome: decided,
// and not waiting on a rival (in_review conflict_pending), with nothing
// left in the worker's inbox.
func (r *fairRig) final(ids []string, within time.Duration) map[string]map[string]string {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := map[string]map[string]string{}
		done := true
		for _, id := range ids {
			p := r.crm.Get(r.t, id)
			out[id] = p
			if s := p["status"]; s == "" || s == "submitted" || (s == "in_review" && p["status_reason"] == "conflict_pending") {
				done = false
			}
		}
		if done {
			return out
		}
		if time.Now().After(deadline) {
			return out // the caller reports what stands
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// placeOf is a registration's place in line as the CRM holds it.
func placeOf(t testing.TB, id string, p map[string]string) registration.Place {
	t.Helper()
	var rec registration.Record
	for k, v := range p {
		if err := rec.Set(k, v); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	rec.ID = id
	return rec.Place()
}

// Ten pairs of partners register the same company milliseconds apart, each
// record created in the CRM outside regsync (no case number, no
// submitted_at), all seen in one poll, HubSpot's search lagging 2 s: the
// first created of each pair is approved, the other declined
// conflict_protected naming it, and submitted_at is the CRM's creation
// time to the second.
func TestFairTenPairsCreatedInTheCRM(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		o := harnessOpts{webhooks: false, pollInterval: 200 * time.Millisecond}
		if c.name == "hubspot" {
			o.searchLag, o.pollSettle = 2*time.Second, 3*time.Second
		}
		r := startFair(t, c, o, "first_approved_wins")
		type pair struct{ first, second string }
		var pairs []pair
		for i := range 10 {
			domain := fmt.Sprintf("pair%d.example", i)
			a := r.crm.Register(t, fairFields(i%10, domain, fmt.Sprintf("Pair %d", i)))
			time.Sleep(time.Millisecond)
			b := r.crm.Register(t, fairFields((i+1)%10, "www."+domain, fmt.Sprintf("Pair %d Inc", i)))
			pairs = append(pairs, pair{a, b})
		}
		var ids []string
		for _, p := range pairs {
			ids = append(ids, p.first, p.second)
		}
		got := r.decided(ids, 30*time.Second)
		r.settle(30 * time.Second)
		for i, p := range pairs {
			a, b := r.crm.Get(t, p.first), r.crm.Get(t, p.second)
			_ = got
			if a["status"] != "approved" {
				t.Errorf("pair %d: the first created is %s/%s, want approved", i, a["status"], a["status_reason"])
			}
			if b["status"] != "declined" || b["status_reason"] != "conflict_protected" || b["conflict_with"] != a["case_number"] {
				t.Errorf("pair %d: the second is %s/%s conflict_with %q, want declined conflict_protected naming %s",
					i, b["status"], b["status_reason"], b["conflict_with"], a["case_number"])
			}
			for _, id := range []string{p.first, p.second} {
				rec := r.crm.Get(t, id)
				sub, _ := registration.ParseTime(rec["submitted_at"])
				if created := r.createdAt(id); !sub.Truncate(time.Second).Equal(created.Truncate(time.Second)) {
					t.Errorf("pair %d record %s: submitted_at %s, created %s", i, id, sub, created)
				}
				if rec["case_number"] == "" {
					t.Errorf("pair %d record %s has no case number", i, id)
				}
			}
			if strings.Contains(b["status_message"], a["case_number"]) || strings.Contains(b["status_message"], a["partner_id"]) {
				t.Errorf("pair %d: the loser's message names the winner: %q", i, b["status_message"])
			}
		}
	})
}

var (
	reFormCase = regexp.MustCompile(`<span class="case">(R-[0-9A-Z]{10})</span>`)
	reAnyCase  = regexp.MustCompile(`R-[0-9A-Z]{10}`)
)

// Three (and ten) partners register one company at the same instant
// through the Slack command, the web form (a personal partner link) and `regsync import` (the built
// binary, beside the daemon): in every round exactly one is approved — the
// first accepted (the earliest place in line regsync gave) — and every
// other is declined conflict_protected naming it.
func TestFairSameInstantAcrossChannels(t *testing.T) {
	if testing.Short() {
		t.Skip("50 rounds through three channels and the built binary")
	}
	bin := regsyncBinary(t)
	seed := *fairSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (reproduce with -fair.seed %d)", seed, seed)
	forEachCRM(t, func(t *testing.T, c crm) {
		o := harnessOpts{webhooks: true, pollInterval: time.Second}
		if c.name == "hubspot" {
			o.searchLag, o.pollSettle = time.Second, 1500*time.Millisecond
		}
		r := startFair(t, c, o, "first_approved_wins")
		rng := rand.New(rand.NewPCG(seed, 10))
		const rounds, parallel = 50, 10
		for start := 0; start < rounds; start += parallel {
			var wg sync.WaitGroup
			for round := start; round < start+parallel; round++ {
				n := 3
				if rng.IntN(2) == 0 {
					n = 10
				}
				perm := rng.Perm(10)[:n]
				channels := make([]string, n)
				for i := range channels {
					channels[i] = []string{"slack", "webform", "import"}[rng.IntN(3)]
				}
				channels[0], channels[1%n], channels[2%n] = "slack", "webform", "import" // each channel every round
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.sameInstantRound(t, bin, seed, round, perm, channels)
				}()
			}
			wg.Wait()
			if t.Failed() {
				t.Fatalf("seed %d: stopped after the rounds from %d", seed, start)
			}
		}
	})
}

// sameInstantRound registers one company for each partner of perm through
// its channel, all released at one instant, and checks the outcome.
func (r *fairRig) sameInstantRound(t *testing.T, bin string, seed uint64, round int, perm []int, channels []string) {
	domain := fmt.Sprintf("round%d-%d.example", round, seed%1000)
	release := make(chan struct{})
	cases := make([]string, len(perm))
	errs := make([]error, len(perm))
	var wg sync.WaitGroup
	var importRows []int
	for i, p := range perm {
		if channels[i] == "import" {
			importRows = append(importRows, i)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var nonce string
			if channels[i] == "webform" {
				nonce, errs[i] = r.nonce()
			}
			<-release
			if errs[i] == nil {
				cases[i], errs[i] = r.registerVia(channels[i], p, domain, nonce, fmt.Sprintf("%d.%d.%d", seed, round, i))
			}
		}()
	}
	if len(importRows) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rows []int
			for _, i := range importRows {
				rows = append(rows, perm[i])
			}
			<-release
			got, err := r.importRows(bin, rows, domain)
			for j, i := range importRows {
				if err != nil {
					errs[i] = err
				} else {
					cases[i] = got[j]
				}
			}
		}()
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("round %d: partner p%d through %s: %v", round, perm[i], channels[i], err)
			return
		}
	}
	ids := make([]string, len(cases))
	for i, cn := range cases {
		deadline := time.Now().Add(30 * time.Second)
		for ids[i] == "" {
			if ids[i], _ = r.byCase(cn); ids[i] == "" {
				if time.Now().After(deadline) {
					t.Errorf("round %d: %s not in the CRM", round, cn)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	got := r.final(ids, 60*time.Second)
	first := 0
	places := make([]registration.Place, len(ids))
	for i, id := range ids {
		places[i] = placeOf(t, id, got[id])
		if places[i].Before(places[first]) {
			first = i
		}
	}
	winner := got[ids[first]]
	var report []string
	for i, id := range ids {
		p := got[id]
		report = append(report, fmt.Sprintf("%s p%d via %s: %s/%s with %q, submitted %s seq %s", cases[i], perm[i], channels[i],
			p["status"], p["status_reason"], p["conflict_with"], p["submitted_at"], p["submission_seq"]))
	}
	sort.Strings(report)
	bad := winner["status"] != "approved"
	for i, id := range ids {
		if i == first {
			continue
		}
		p := got[id]
		if p["status"] != "declined" || p["status_reason"] != "conflict_protected" || p["conflict_with"] != winner["case_number"] {
			bad = true
		}
	}
	if bad {
		t.Errorf("seed %d round %d (%s): want %s (the first accepted) approved and the others declined conflict_protected naming it:\n  %s",
			seed, round, domain, winner["case_number"], strings.Join(report, "\n  "))
	}
}

func (r *fairRig) nonce() (string, error) {
	resp, err := r.client.Get(r.base + "/register")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	m := reNonce.FindStringSubmatch(b.String())
	if m == nil {
		return "", fmt.Errorf("GET /register: %d, no nonce", resp.StatusCode)
	}
	return m[1], nil
}

// registerVia registers partner p's registration of domain through the
// Slack command or the web form (the partner's personal link) and returns its case number.
func (r *fairRig) registerVia(channel string, p int, domain, nonce, trigger string) (string, error) {
	switch channel {
	case "slack":
		text := fmt.Sprintf(`company="Target %s" domain=%s contact="Ann Lee" email=ann@%s problem="Spreadsheets everywhere." consent=yes`, domain, domain, domain)
		body := []byte(url.Values{
			"team_id": {"T1"}, "channel_id": {"C-deals"}, "user_id": {fmt.Sprintf("U%d", p)}, "user_name": {"sam"},
			"command": {"/register"}, "text": {text}, "response_url": {r.later.URL + "/?trigger=" + url.QueryEscape(trigger)}, "trigger_id": {trigger},
		}.Encode())
		req, _ := http.NewRequest("POST", r.base+islack.CommandsPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range slacktest.Sign(fairSlackSecret, body, time.Now()) {
			req.Header.Set(k, v[0])
		}
		resp, err := r.client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("slack: %d %s", resp.StatusCode, b.String())
		}
		if m := reAnyCase.FindString(b.String()); m != "" {
			return m, nil
		}
		return r.laterCase(trigger, 30*time.Second)
	case "webform":
		// Through the partner's personal link: registered when posted,
		// its place in line the instant regsync accepted it (a form typed
		// with the address would wait for its confirmation link instead).
		link, _, err := webform.PartnerLink(secret.New(fairLinkKey), r.base, intake.NewDirectory(r.cfg.Partners), fmt.Sprintf("p%d", p),
			fmt.Sprintf("sam@p%d.example", p), time.Now(), time.Hour)
		if err != nil {
			return "", err
		}
		lu, _ := url.Parse(link)
		form := url.Values{"nonce": {nonce}, "company_name": {"Target " + domain}, "company_domain": {domain}, "contact_name": {"Ann Lee"},
			"contact_email": {"ann@" + domain}, "problem": {"Spreadsheets everywhere."}, webform.LinkParam: {lu.Query().Get(webform.LinkParam)}, "consent": {"yes"}}
		req, _ := http.NewRequest("POST", r.base+"/register", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", r.base)
		resp, err := r.client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		m := reFormCase.FindStringSubmatch(b.String())
		if resp.StatusCode != 200 || m == nil {
			return "", fmt.Errorf("web form: %d", resp.StatusCode)
		}
		return m[1], nil
	}
	return "", fmt.Errorf("no channel %q", channel)
}

// importRows runs `regsync import` beside the daemon with one row per
// partner of rows, and returns their case numbers.
func (r *fairRig) importRows(bin string, partners []int, domain string) ([]string, error) {
	dir, err := os.MkdirTemp(r.dir, "import-")
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("Company,Website,Contact,Contact email,Problem,Partner email,Consent\n")
	for _, p := range partners {
		fmt.Fprintf(&b, "Target %s,%s,Ann Lee,ann@%s,Spreadsheets everywhere.,sam@p%d.example,yes\n", domain, domain, domain, p)
	}
	in := filepath.Join(dir, "rows.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "import", "--config", r.cfg.File, in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("regsync import: %v: %s", err, stderr.String())
	}
	rows, err := csv.NewReader(&stdout).ReadAll()
	if err != nil || len(rows) != len(partners)+1 {
		return nil, fmt.Errorf("regsync import: result %q (%v)", stdout.String(), err)
	}
	var out []string
	for _, row := range rows[1:] {
		out = append(out, row[1])
	}
	return out, nil
}

// A partner who registers a placeholder with missing fields and later
// supplies them naming another company does not jump the queue: naming a
// domain starts a new place in line, so the rivals who registered that
// company meanwhile keep theirs. An AE changing a registration's domain in
// the CRM starts a new place too. Filling in other missing fields keeps
// the place.
func TestFairPlaceholderDoesNotJumpTheQueue(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		o := harnessOpts{webhooks: true, pollInterval: time.Second}
		if c.name == "hubspot" {
			o.searchLag, o.pollSettle = 500*time.Millisecond, time.Second
		}
		r := startFair(t, c, o, "first_approved_wins")
		// The placeholder: no contact, no problem.
		ph := fairFields(0, "placeholder.example", "Placeholder Holdings")
		delete(ph, "company_domain")
		delete(ph, "contact_name")
		delete(ph, "problem")
		phID := r.crm.Register(t, ph)
		if p := r.decided([]string{phID}, 15*time.Second)[phID]; p["status"] != "needs_info" {
			t.Fatalf("placeholder: %v", p)
		}
		r.settle(15 * time.Second)
		// Two rivals register targetco.example.
		b := r.crm.Register(t, fairFields(1, "targetco.example", "TargetCo"))
		time.Sleep(5 * time.Millisecond)
		cc := r.crm.Register(t, fairFields(2, "eu.targetco.example", "TargetCo EU"))
		got := map[string]map[string]string{b: r.waitStatus(b, 15*time.Second, "approved"), cc: r.waitStatus(cc, 15*time.Second, "declined")}
		if got[cc]["conflict_with"] != got[b]["case_number"] {
			t.Fatalf("rivals: %v / %v", got[b], got[cc])
		}
		// The placeholder's partner supplies the fields, aiming at targetco.
		_, link := r.statusLink(phID)
		token := strings.TrimPrefix(link, "/r/")
		resp := r.postSupply(link, url.Values{"token": {token}, "contact_name": {"Ann Lee"}, "problem": {"Spreadsheets."}, "company_domain": {"targetco.example"}})
		if resp.StatusCode != 303 {
			t.Fatalf("supply: %d", resp.StatusCode)
		}
		p := r.waitStatus(phID, 15*time.Second, "declined", "approved", "in_review")
		if p["status"] != "declined" || p["status_reason"] != "conflict_protected" || p["conflict_with"] != got[b]["case_number"] {
			t.Errorf("the aimed placeholder: %s/%s with %q, want declined conflict_protected naming %s", p["status"], p["status_reason"], p["conflict_with"], got[b]["case_number"])
		}
		if !placeOf(t, b, got[b]).Before(placeOf(t, phID, p)) {
			t.Errorf("the placeholder's place was not renewed: %+v, the rival's %+v", placeOf(t, phID, p), placeOf(t, b, got[b]))
		}

		// Filling in other fields keeps the place: an early needs_info on
		// a company, completed after a later rival registered it, wins.
		early := fairFields(3, "keepplace.example", "Keep Place")
		delete(early, "problem")
		eID := r.crm.Register(t, early)
		if p := r.decided([]string{eID}, 15*time.Second)[eID]; p["status"] != "needs_info" {
			t.Fatalf("early: %v", p)
		}
		r.settle(15 * time.Second)
		late := r.crm.Register(t, fairFields(4, "keepplace.example", "Keep Place"))
		if p := r.decided([]string{late}, 15*time.Second)[late]; p["status"] != "in_review" || p["status_reason"] != "conflict_pending" {
			t.Fatalf("the later rival waits for the earlier one: %v", p)
		}
		_, elink := r.statusLink(eID)
		if resp := r.postSupply(elink, url.Values{"token": {strings.TrimPrefix(elink, "/r/")}, "problem": {"Spreadsheets."}}); resp.StatusCode != 303 {
			t.Fatalf("supply: %d", resp.StatusCode)
		}
		if p := r.waitStatus(eID, 15*time.Second, "approved", "declined", "in_review"); p["status"] != "approved" {
			t.Errorf("the completed early registration: %v", p)
		}
		if p := r.waitStatus(late, 15*time.Second, "declined"); p["status_reason"] != "conflict_protected" {
			t.Errorf("the later rival: %v", p)
		}

		// An AE moves a needs_info registration to the company and sends
		// it back to submitted: a new place, behind the approved one.
		ae := fairFields(5, "elsewhere.example", "Elsewhere")
		delete(ae, "problem")
		aeID := r.crm.Register(t, ae)
		r.decided([]string{aeID}, 15*time.Second)
		r.settle(15 * time.Second)
		r.crm.Update(t, aeID, map[string]string{"company_domain": "targetco.example", "problem": "Found it.", "status": "submitted"})
		if p := r.waitStatus(aeID, 15*time.Second, "declined", "approved"); p["status"] != "declined" || p["conflict_with"] != got[b]["case_number"] {
			t.Errorf("the AE's moved registration: %v", p)
		}
	})
}

// statusLink is a registration's status link (path only).
func (r *fairRig) statusLink(id string) (string, string) {
	r.t.Helper()
	p := r.crm.Get(r.t, id)
	u := r.d.links.URL(p["case_number"])
	return p["case_number"], strings.TrimPrefix(u, r.base)
}

func (r *fairRig) postSupply(link string, form url.Values) *http.Response {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.base+link+"/supply", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.base)
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (r *fairRig) postAppeal(link, text string) (*http.Response, string) {
	r.t.Helper()
	form := url.Values{"token": {strings.TrimPrefix(link, "/r/")}, "appeal": {text}}
	req, _ := http.NewRequest("POST", r.base+link+"/appeal", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.base)
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

// waitStatus waits until the registration's status is one of want and
// nothing about it is in flight.
func (r *fairRig) waitStatus(id string, within time.Duration, want ...string) map[string]string {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := r.crm.Get(r.t, id)
		for _, w := range want {
			if p["status"] == w {
				r.settle(within)
				return r.crm.Get(r.t, id)
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: %s/%s after %s, want one of %v", id, p["status"], p["status_reason"], within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Appeals never create a place in line: the appeal of a decline that was
// not a conflict decision holds nobody back, and a partner may appeal at
// most rules.appeals.max times (default once) — past that the page says
// no further appeal is possible and whom to contact.
func TestFairAppealsDoNotStallACompany(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		o := harnessOpts{webhooks: true, pollInterval: time.Second}
		if c.name == "hubspot" {
			o.searchLag, o.pollSettle = 500*time.Millisecond, time.Second
		}
		r := startFair(t, c, o, "first_approved_wins")
		// An inactive partner's registration, declined, appealed.
		f := fairFields(0, "stall.example", "Stall")
		f["partner_id"], f["partner_email"] = "gone", "sam@gone.example"
		gone := r.crm.Register(t, f)
		if p := r.decided([]string{gone}, 15*time.Second)[gone]; p["status"] != "declined" || p["status_reason"] != "partner_inactive" {
			t.Fatalf("inactive partner: %v", p)
		}
		r.settle(15 * time.Second)
		_, link := r.statusLink(gone)
		if resp, _ := r.postAppeal(link, "We were first!"); resp.StatusCode != 303 {
			t.Fatalf("appeal: %d", resp.StatusCode)
		}
		r.waitStatus(gone, 15*time.Second, "appealed")
		// The next partner's clean registration is not held back.
		clean := r.crm.Register(t, fairFields(1, "stall.example", "Stall"))
		if p := r.waitStatus(clean, 15*time.Second, "approved", "in_review", "declined"); p["status"] != "approved" {
			t.Errorf("a clean registration after a non-conflict appeal: %s/%s, want approved", p["status"], p["status_reason"])
		}
		// An AE declines the appeal; a second appeal is refused, saying so.
		r.crm.Update(t, gone, map[string]string{"status": "declined"})
		r.waitStatus(gone, 15*time.Second, "declined")
		resp, page := r.postAppeal(link, "Again!")
		if resp.StatusCode == 303 {
			_, page = r.get(link)
		}
		if p := r.crm.Get(t, gone); p["status"] != "declined" {
			t.Errorf("a second appeal went through: %v", p)
		}
		if !strings.Contains(page, "no further appeal is possible") || !strings.Contains(page, "partner manager") {
			t.Errorf("the page after a refused appeal does not say no further appeal is possible and whom to contact:\n%s", page)
		}

		// The appeal of a conflict decline does hold its place: the loser
		// contests who came first, and a later registration waits.
		w := r.crm.Register(t, fairFields(2, "contest.example", "Contest"))
		time.Sleep(5 * time.Millisecond)
		l := r.crm.Register(t, fairFields(3, "contest.example", "Contest"))
		got := map[string]map[string]string{w: r.waitStatus(w, 15*time.Second, "approved"), l: r.waitStatus(l, 15*time.Second, "declined")}
		if got[l]["status_reason"] != "conflict_protected" {
			t.Fatalf("contest: %v / %v", got[w], got[l])
		}
		r.crm.Update(t, w, map[string]string{"status": "withdrawn"})
		r.waitStatus(w, 15*time.Second, "withdrawn")
		_, llink := r.statusLink(l)
		if resp, _ := r.postAppeal(llink, "We met them first."); resp.StatusCode != 303 {
			t.Fatalf("appeal: %d", resp.StatusCode)
		}
		r.waitStatus(l, 15*time.Second, "appealed")
		third := r.crm.Register(t, fairFields(4, "contest.example", "Contest"))
		if p := r.waitStatus(third, 15*time.Second, "in_review", "approved", "declined"); p["status_reason"] != "conflict_pending" || p["conflict_with"] != got[l]["case_number"] {
			t.Errorf("after a conflict appeal: %s/%s with %q, want in_review conflict_pending naming %s", p["status"], p["status_reason"], p["conflict_with"], got[l]["case_number"])
		}
	})
}

func (r *fairRig) get(path string) (*http.Response, string) {
	r.t.Helper()
	resp, err := r.client.Get(r.base + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

// A needs_info registration expires after rules.needs_info_expire_days
// (30 by default), so a placeholder cannot hold a company for ever; the
// partner is told.
func TestNeedsInfoExpires(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		h := startHarness(t, c, harnessOpts{webhooks: true})
		f := clean(1, "placeholder.example")
		delete(f, "problem")
		delete(f, "submitted_at")
		id := h.register(f)
		if p, _ := h.waitDecided(id, 5*time.Second); p["status"] != "needs_info" {
			t.Fatalf("%v", p)
		}
		h.settle(5 * time.Second)
		h.crm.Advance(29 * 24 * time.Hour)
		if _, err := h.d.worker.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.settle(5 * time.Second)
		if p := h.get(id); p["status"] != "needs_info" {
			t.Fatalf("after 29 days: %v", p)
		}
		h.crm.Advance(2 * 24 * time.Hour)
		if _, err := h.d.worker.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.settle(5 * time.Second)
		p := h.get(id)
		if p["status"] != "expired" || p["status_reason"] != "needs_info_expired" || !strings.Contains(p["status_message"], "30 days") {
			t.Fatalf("after 31 days: %v", p)
		}
		// The partner is told.
		out, err := os.ReadDir(filepath.Join(h.dir, "outbox"))
		if err != nil {
			t.Fatal(err)
		}
		var told bool
		for _, e := range out {
			b, _ := os.ReadFile(filepath.Join(h.dir, "outbox", e.Name()))
			if bytes.Contains(b, []byte(p["case_number"])) && bytes.Contains(b, []byte("expired")) {
				told = true
			}
		}
		if !told {
			t.Errorf("no message to the partner about the expiry in the outbox (%d files)", len(out))
		}
	})
}

// TestFairSameSecondChannelAndCRM: a registration through regsync's web
// form and one created in the CRM by something else, of one company, in
// the same second — the CRM's record created a moment after the form's.
// On Salesforce both get the same submitted_at (whole seconds), and the
// tie rule puts the record without an acceptance sequence first; so the
// form's approval must wait until every record of its second exists, and
// the winner is the first in line whichever arrived first. (Regression:
// the torture test, seed 11, saw the form's registration approved before
// the CRM's record of the same second existed, which then came first and
// was declined.)
func TestFairSameSecondChannelAndCRM(t *testing.T) {
	forEachCRM(t, func(t *testing.T, c crm) {
		o := harnessOpts{webhooks: true, pollInterval: 200 * time.Millisecond}
		if c.name == "hubspot" {
			o.searchLag, o.pollSettle = 300*time.Millisecond, time.Second
		}
		r := startFair(t, c, o, "first_approved_wins")
		rounds := 0
		for round := 0; rounds < 3 && round < 10; round++ {
			domain := fmt.Sprintf("same-second-%d.example", round)
			nonce, err := r.nonce()
			if err != nil {
				t.Fatal(err)
			}
			// Start early in a second, so that both land in it.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
			formCase := make(chan string, 1)
			go func() {
				cn, err := r.registerVia("webform", 1, domain, nonce, "")
				if err != nil {
					t.Error(err)
				}
				formCase <- cn
			}()
			// The CRM's record, once the form's exists...
			var formID string
			deadline := time.Now().Add(5 * time.Second)
			for formID == "" && time.Now().Before(deadline) {
				formID = r.findByDomain(domain)
				if formID == "" {
					time.Sleep(2 * time.Millisecond)
				}
			}
			if formID == "" {
				t.Fatalf("round %d: the form's registration never reached the CRM", round)
			}
			// ... and once it is decided, or a little later: a record of the
			// same second that the form's decision could not have seen.
			for until := time.Now().Add(300 * time.Millisecond); time.Now().Before(until); time.Sleep(2 * time.Millisecond) {
				if s := r.crm.Get(t, formID)["status"]; s != "" && s != "submitted" {
					break
				}
			}
			crmID := r.crm.Register(t, fairFields(2, domain, "Target "+domain))
			<-formCase
			if !r.createdAt(formID).Truncate(time.Second).Equal(r.createdAt(crmID).Truncate(time.Second)) {
				continue // the second turned between the two: try again
			}
			rounds++
			got := r.final([]string{formID, crmID}, 20*time.Second)
			first, second := formID, crmID
			if placeOf(t, crmID, got[crmID]).Before(placeOf(t, formID, got[formID])) {
				first, second = crmID, formID
			}
			w, l := got[first], got[second]
			if w["status"] != "approved" || l["status"] != "declined" || l["status_reason"] != "conflict_protected" || l["conflict_with"] != w["case_number"] {
				t.Errorf("round %d: first in line %s (%s) ends %s/%s; the other %s (%s) ends %s/%s naming %q",
					round, w["case_number"], w["source"], w["status"], w["status_reason"],
					l["case_number"], l["source"], l["status"], l["status_reason"], l["conflict_with"])
			}
		}
		if rounds < 3 {
			t.Fatalf("only %d of 10 rounds had both records in one second", rounds)
		}
	})
}

// findByDomain is the id of the registration of domain in the fake, if
// there is exactly one.
func (r *fairRig) findByDomain(domain string) string {
	switch f := r.crm.(type) {
	case *hubspotFake:
		if rec, ok := f.hs.FindRecord(f.typeID, "company_domain", domain); ok {
			return rec.ID
		}
	case *salesforceFake:
		if ids := f.sf.Find(salesforcetest.RegistrationObject, "Company_Domain__c", domain); len(ids) == 1 {
			return ids[0]
		}
	}
	return ""
}
