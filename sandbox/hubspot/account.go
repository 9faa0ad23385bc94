package hubspot

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// --- owners ------------------------------------------------------------------------

// Owner is a HubSpot user records can be assigned to (hubspot_owner_id).
type Owner struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	UserID    int    `json:"userId"`
	Archived  bool   `json:"archived"`
}

type owner struct {
	Owner
	created time.Time
}

type ownerJSON struct {
	Owner
	Type      string `json:"type"`
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
	Teams     []any  `json:"teams"`
}

// AddOwner adds an owner (a HubSpot user) to the portal; an empty ID gets
// one assigned. It returns the owner's id.
func (s *Server) AddOwner(o Owner) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addOwnerLocked(o)
}

func (s *Server) addOwnerLocked(o Owner) (string, error) {
	if o.Email == "" {
		return "", fmt.Errorf("hubspot sandbox: owner without an e-mail")
	}
	if o.ID == "" {
		o.ID = strconv.Itoa(81297000 + len(s.owners) + 1)
	}
	if _, err := strconv.ParseInt(o.ID, 10, 64); err != nil {
		return "", fmt.Errorf("hubspot sandbox: owner id %q is not numeric, as HubSpot owner ids are", o.ID)
	}
	if o.UserID == 0 {
		o.UserID = 9200000 + len(s.owners) + 1
	}
	for _, x := range s.owners {
		if x.ID == o.ID {
			return "", fmt.Errorf("hubspot sandbox: owner id %s used twice", o.ID)
		}
	}
	s.owners = append(s.owners, &owner{Owner: o, created: s.now()})
	return o.ID, nil
}

func (s *Server) ownerExists(id string) bool {
	for _, o := range s.owners {
		if o.ID == id && !o.Archived {
			return true
		}
	}
	return false
}

func (o *owner) json() ownerJSON {
	return ownerJSON{Owner: o.Owner, Type: "PERSON", CreatedAt: iso(o.created), UpdatedAt: iso(o.created), Teams: []any{}}
}

func (s *Server) handleListOwners(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeHTTPError(w, badRequest("limit must be between 1 and 500, not %q", v))
			return
		}
		limit = n
	}
	email := strings.ToLower(q.Get("email"))
	archived := boolParam(r, "archived", false)
	after, _ := strconv.Atoi(q.Get("after"))
	s.mu.RLock()
	var all []ownerJSON
	for _, o := range s.owners {
		if o.Archived == archived && (email == "" || strings.ToLower(o.Email) == email) {
			all = append(all, o.json())
		}
	}
	s.mu.RUnlock()
	res := []ownerJSON{}
	if after < len(all) {
		res = all[after:min(after+limit, len(all))]
	}
	body := map[string]any{"results": res}
	if after+limit < len(all) {
		body["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(after + limit)}}
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleGetOwner(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("ownerId")
	byUser := r.URL.Query().Get("idProperty") == "userId"
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, o := range s.owners {
		if (!byUser && o.ID == id) || (byUser && strconv.Itoa(o.UserID) == id) {
			writeJSON(w, http.StatusOK, o.json())
			return
		}
	}
	writeHTTPError(w, notFound("Owner %s not found", id))
}

// --- forms ---------------------------------------------------------------------------

// FormValue is one field of a form submission.
type FormValue struct {
	Name         string `json:"name"`
	Value        string `json:"value"`
	ObjectTypeID string `json:"objectTypeId"`
}

// FormSubmission is a submission of a HubSpot form, as the
// form-integrations API returns it.
type FormSubmission struct {
	ConversionID string      `json:"conversionId"`
	SubmittedAt  int64       `json:"submittedAt"`
	Values       []FormValue `json:"values"`
	PageURL      string      `json:"pageUrl"`
}

type form struct {
	subs []FormSubmission // in submission order
}

// AddForm makes a form exist (with no submissions yet).
func (s *Server) AddForm(guid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forms[guid] == nil {
		s.forms[guid] = &form{}
	}
}

// AddFormSubmission records a submission of a form, as a visitor filling
// it in would: empty ConversionID, SubmittedAt and ObjectTypeID get
// HubSpot's defaults (a UUID, now, "0-1"). Like HubSpot, a submission with
// an e-mail creates or updates the contact (changeSource FORM) with the
// contact fields the portal knows. It returns the conversion id.
func (s *Server) AddFormSubmission(guid string, sub FormSubmission) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.forms[guid]
	if f == nil {
		f = &form{}
		s.forms[guid] = f
	}
	now := s.now()
	if sub.ConversionID == "" {
		sub.ConversionID = newCorrelationID()
	}
	if sub.SubmittedAt == 0 {
		sub.SubmittedAt = now.UnixMilli()
	}
	sub.Values = slices.Clone(sub.Values)
	props := propMap{}
	for i := range sub.Values {
		if sub.Values[i].ObjectTypeID == "" {
			sub.Values[i].ObjectTypeID = typeContact
		}
		v := sub.Values[i]
		if v.ObjectTypeID == typeContact {
			props[v.Name] = v.Value
		}
	}
	f.subs = append(f.subs, sub)
	if email := strings.ToLower(strings.TrimSpace(props["email"])); email != "" {
		ct := s.types[typeContact]
		known := propMap{}
		for k, v := range props {
			if p := ct.props[k]; p != nil && !p.Archived && !p.ModificationMetadata.ReadOnlyValue {
				known[k] = v
			}
		}
		vals, errs := s.checkProps(ct, known, srcForm)
		if len(errs) == 0 {
			if rec := ct.byUnique("email", email); rec != nil {
				s.updateLocked(ct, rec, vals, srcForm, now)
			} else {
				s.createLocked(ct, vals, srcForm, now)
			}
		}
	}
	return sub.ConversionID
}

func (s *Server) handleFormSubmissions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			writeHTTPError(w, badRequest("limit must be between 1 and 50, not %q", v))
			return
		}
		limit = n
	}
	after := 0
	if v := q.Get("after"); v != "" {
		n, err := decodeCursor(v)
		if err != nil {
			writeHTTPError(w, badRequest("after %q is not a valid paging cursor", v))
			return
		}
		after = n
	}
	guid := r.PathValue("formGuid")
	s.mu.RLock()
	f := s.forms[guid]
	var page []FormSubmission
	more := false
	if f != nil {
		// Newest first, as HubSpot lists them.
		n := len(f.subs)
		for i := n - 1 - after; i >= 0 && len(page) < limit; i-- {
			page = append(page, f.subs[i])
		}
		more = after+len(page) < n
	}
	s.mu.RUnlock()
	if f == nil {
		writeHTTPError(w, notFound("Form with guid %s does not exist", guid))
		return
	}
	if page == nil {
		page = []FormSubmission{}
	}
	body := map[string]any{"results": page}
	if more {
		next := encodeCursor(after + len(page))
		qq := r.URL.Query()
		qq.Set("after", next)
		body["paging"] = map[string]any{"next": map[string]string{"after": next, "link": s.absLink(r, qq.Encode())}}
	}
	writeJSON(w, http.StatusOK, body)
}

// Form paging cursors are opaque, like HubSpot's.
func encodeCursor(n int) string { return hex.EncodeToString([]byte("o:" + strconv.Itoa(n))) }

func decodeCursor(v string) (int, error) {
	b, err := hex.DecodeString(v)
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(string(b), "o:")
	if !ok {
		return 0, fmt.Errorf("bad cursor")
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad cursor")
	}
	return n, nil
}

// --- account information ------------------------------------------------------------

func (s *Server) handleAccountDetails(w http.ResponseWriter, r *http.Request) {
	_, off := s.now().In(s.opts.TimeZone).Zone()
	sign, abs := "+", off
	if off < 0 {
		sign, abs = "-", -off
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"portalId": s.opts.PortalID, "accountType": "STANDARD", "timeZone": s.opts.TimeZone.String(),
		"companyCurrency": "USD", "additionalCurrencies": []string{},
		"utcOffset":             fmt.Sprintf("%s%02d:%02d", sign, abs/3600, abs%3600/60),
		"utcOffsetMilliseconds": off * 1000, "uiDomain": "app.hubspot.com", "dataHostingLocation": "na1",
	})
}

func (s *Server) handleDailyUsage(w http.ResponseWriter, r *http.Request) {
	now := s.limNow()
	s.cmu.Lock()
	used := s.limits.used(now, s.opts.TimeZone)
	s.cmu.Unlock()
	reset := midnight(now, s.opts.TimeZone).AddDate(0, 0, 1)
	writeJSON(w, http.StatusOK, map[string]any{"results": []map[string]any{{
		"name": "api-calls-daily", "usageLimit": s.opts.Daily, "currentUsage": used,
		"collectedAt": iso(now), "fetchStatus": "SUCCESS", "resetsAt": iso(reset),
	}}})
}

// --- OAuth -------------------------------------------------------------------------

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, "BAD_REQUEST", "could not read the form-encoded body")
		return
	}
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(mt) != "application/x-www-form-urlencoded" {
		writeOAuthError(w, "BAD_REQUEST", "the token request must be application/x-www-form-urlencoded")
		return
	}
	app := s.opts.OAuth
	f := r.PostForm
	switch {
	case app == nil:
		writeOAuthError(w, "BAD_CLIENT_ID", "missing or invalid client id")
		return
	case f.Get("grant_type") != "refresh_token":
		writeOAuthError(w, "UNSUPPORTED_GRANT_TYPE", fmt.Sprintf("unsupported grant_type %q: this portal supports refresh_token", f.Get("grant_type")))
		return
	case f.Get("client_id") != app.ClientID:
		writeOAuthError(w, "BAD_CLIENT_ID", "missing or invalid client id")
		return
	case f.Get("client_secret") != app.ClientSecret:
		writeOAuthError(w, "BAD_CLIENT_SECRET", "missing or invalid client secret")
		return
	case f.Get("refresh_token") != app.RefreshToken:
		writeOAuthError(w, "BAD_REFRESH_TOKEN", "missing or unknown refresh token")
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := "CJ" + hex.EncodeToString(b[:])
	s.mu.Lock()
	s.accessTokens[tok] = s.now().Add(app.AccessTokenLifetime)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "bearer", "refresh_token": app.RefreshToken, "access_token": tok,
		"expires_in": int(app.AccessTokenLifetime / time.Second),
	})
}

func writeOAuthError(w http.ResponseWriter, status, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"status": status, "message": msg,
		"correlationId": newCorrelationID(), "requestId": newCorrelationID()})
}

func (s *Server) handleAccessTokenInfo(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	s.mu.RLock()
	exp, ok := s.accessTokens[tok]
	s.mu.RUnlock()
	now := s.now()
	if !ok || !now.Before(exp) {
		writeJSON(w, http.StatusNotFound, map[string]string{"status": "error", "message": "The access token is expired or invalid",
			"correlationId": newCorrelationID(), "category": "EXPIRED_AUTHENTICATION"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "hub_id": s.opts.PortalID, "app_id": s.opts.AppID,
		"expires_in": int(exp.Sub(now) / time.Second), "token_type": "access",
		"scopes": []string{"crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.companies.read",
			"crm.objects.companies.write", "crm.objects.deals.read", "crm.objects.deals.write", "crm.objects.custom.read",
			"crm.objects.custom.write", "crm.schemas.custom.read", "crm.schemas.custom.write", "crm.objects.owners.read", "forms"}})
}

// ExpireAccessTokens makes every OAuth access token issued so far expire
// now (the next call with one gets 401), as if their hour had passed.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for tok := range s.accessTokens {
		s.accessTokens[tok] = now
	}
}

// sortOwners keeps owners in id order (seed files may list them in any order).
func sortOwners(os []*owner) {
	sort.SliceStable(os, func(i, j int) bool { return idLess(os[i].ID, os[j].ID) })
}
