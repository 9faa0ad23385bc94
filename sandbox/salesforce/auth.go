package salesforce

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// token is the OAuth 2.0 token endpoint, /services/oauth2/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost {
		fail(http.StatusBadRequest, "invalid_request", "must use HTTP POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", "malformed request body")
		return
	}
	f := r.PostForm
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	// clientOK checks the connected app's consumer key and secret,
	// answering as Salesforce does when they are wrong.
	clientOK := func() bool {
		if f.Get("client_id") != s.opts.ClientID {
			fail(http.StatusBadRequest, "invalid_client_id", "client identifier invalid")
			return false
		}
		if !eq(f.Get("client_secret"), s.opts.ClientSecret) {
			fail(http.StatusBadRequest, "invalid_client", "invalid client credentials")
			return false
		}
		return true
	}
	switch f.Get("grant_type") {
	case "client_credentials":
		if !clientOK() {
			return
		}
	case "password":
		if !clientOK() {
			return
		}
		if s.opts.Username == "" || f.Get("username") != s.opts.Username ||
			!eq(f.Get("password"), s.opts.Password+s.opts.SecurityToken) {
			fail(http.StatusBadRequest, "invalid_grant", "authentication failure")
			return
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if desc := s.checkJWT(f.Get("assertion")); desc != "" {
			fail(http.StatusBadRequest, "invalid_grant", desc)
			return
		}
	case "":
		fail(http.StatusBadRequest, "unsupported_grant_type", "grant type not supported")
		return
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "grant type not supported")
		return
	}
	tok := s.newSession()
	issued := strconv.FormatInt(s.now().UnixMilli(), 10)
	id := s.url + "/id/" + s.orgID + "/" + s.apiUser
	mac := hmac.New(sha256.New, []byte(s.opts.ClientSecret))
	mac.Write([]byte(id + issued))
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": tok,
		"instance_url": s.url,
		"id":           id,
		"token_type":   "Bearer",
		"issued_at":    issued,
		"signature":    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		"scope":        "api",
	})
}

// checkJWT verifies a JWT bearer assertion and returns why it is refused,
// or "". Expiry is checked on the real clock: the assertion is signed with
// it.
func (s *Server) checkJWT(assertion string) string {
	if s.opts.JWTKey == nil || s.opts.Username == "" {
		return "user hasn't approved this consumer"
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "invalid assertion"
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return "invalid assertion"
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return "invalid assertion algorithm"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.opts.JWTKey, crypto.SHA256, sum[:], sig) != nil {
		return "invalid assertion signature"
	}
	var claims map[string]any
	if json.Unmarshal(pb, &claims) != nil {
		return "invalid assertion"
	}
	str := func(k string) string { v, _ := claims[k].(string); return v }
	if str("iss") != s.opts.ClientID {
		return "invalid_client_id"
	}
	if str("sub") != s.opts.Username {
		return "user hasn't approved this consumer"
	}
	switch aud := str("aud"); aud {
	case "https://login.salesforce.com", "https://test.salesforce.com", s.url:
	default:
		return "audience is invalid"
	}
	var exp int64
	switch v := claims["exp"].(type) {
	case float64:
		exp = int64(v)
	case string:
		exp, _ = strconv.ParseInt(v, 10, 64)
	}
	if exp == 0 || time.Now().Unix() > exp {
		return "expired authorization code"
	}
	return ""
}
