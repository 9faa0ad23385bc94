// Package slacktest is a fake of the parts of Slack's Web API the Slack
// channel calls (views.open, users.info, chat.postMessage,
// chat.postEphemeral) and of slash-command response URLs, served over HTTP
// on loopback with Slack's wire format: form or JSON requests with a bot
// token, {"ok": true, …} or {"ok": false, "error": "…"} answers, and 429
// with Retry-After when told to limit. Sign makes the signature headers
// Slack puts on the requests it sends to an app.
package slacktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// User is a Slack user the fake knows.
type User struct {
	ID, TeamID, Email, RealName string
	Deleted, IsBot              bool
}

// Message is a message posted through the fake.
type Message struct {
	Method   string // chat.postMessage or chat.postEphemeral
	Channel  string
	User     string // chat.postEphemeral's recipient
	Text     string
	ThreadTS string
	TS       string // the posted message's ts (postMessage)
}

// View is a views.open call.
type View struct {
	TriggerID string
	View      map[string]any
}

// Server is a running fake.
type Server struct {
	*httptest.Server
	Token string

	mu           sync.Mutex
	users        map[string]User
	notInChannel map[string]bool
	limit        int
	calls        map[string]int
	messages     []Message
	views        []View
	responses    []map[string]any
	seq          int
}

// Start serves the fake on loopback until the test ends. token is the bot
// token it accepts.
func Start(t testing.TB, token string) *Server {
	s := &Server{Token: token, users: map[string]User{}, notInChannel: map[string]bool{}, calls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/views.open", s.viewsOpen)
	mux.HandleFunc("POST /api/users.info", s.usersInfo)
	mux.HandleFunc("POST /api/chat.postMessage", s.post("chat.postMessage"))
	mux.HandleFunc("POST /api/chat.postEphemeral", s.post("chat.postEphemeral"))
	mux.HandleFunc("POST /response/", s.response)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// APIURL is the Web API base to configure (intake.slack.api_url).
func (s *Server) APIURL() string { return s.URL + "/api/" }

// ResponseURL is a slash command's response_url that the fake captures.
func (s *Server) ResponseURL(id string) string { return s.URL + "/response/" + id }

// AddUser makes a user known.
func (s *Server) AddUser(u User) { s.mu.Lock(); s.users[u.ID] = u; s.mu.Unlock() }

// NotInChannel makes chat.postMessage to a channel fail with not_in_channel.
func (s *Server) NotInChannel(ch string) { s.mu.Lock(); s.notInChannel[ch] = true; s.mu.Unlock() }

// RateLimit answers the next n Web API calls with 429 and Retry-After: 1.
func (s *Server) RateLimit(n int) { s.mu.Lock(); s.limit = n; s.mu.Unlock() }

// Calls counts the calls of a method.
func (s *Server) Calls(method string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls[method] }

// Messages returns the messages posted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Views returns the views opened so far.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]View(nil), s.views...)
}

// Responses returns what was posted to response URLs.
func (s *Server) Responses() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.responses...)
}

func reply(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code string) { reply(w, map[string]any{"ok": false, "error": code}) }

// params reads a form or JSON request, checks the token and the rate
// limit; false means it answered already.
func (s *Server) params(w http.ResponseWriter, r *http.Request, method string) (map[string]any, bool) {
	s.mu.Lock()
	s.calls[method]++
	limited := s.limit > 0
	if limited {
		s.limit--
	}
	s.mu.Unlock()
	if limited {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return nil, false
	}
	p := map[string]any{}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			fail(w, "invalid_json")
			return nil, false
		}
	} else {
		if err := r.ParseForm(); err != nil {
			fail(w, "invalid_form_data")
			return nil, false
		}
		for k := range r.PostForm {
			p[k] = r.PostForm.Get(k)
		}
	}
	if t, ok := p["token"].(string); ok && t != "" {
		token = t
	}
	if token == "" {
		fail(w, "not_authed")
		return nil, false
	}
	if token != s.Token {
		fail(w, "invalid_auth")
		return nil, false
	}
	return p, true
}

func (s *Server) viewsOpen(w http.ResponseWriter, r *http.Request) {
	p, ok := s.params(w, r, "views.open")
	if !ok {
		return
	}
	trigger, _ := p["trigger_id"].(string)
	view, _ := p["view"].(map[string]any)
	if trigger == "" {
		fail(w, "invalid_arguments")
		return
	}
	if view == nil {
		fail(w, "invalid_arguments")
		return
	}
	s.mu.Lock()
	s.views = append(s.views, View{TriggerID: trigger, View: view})
	s.seq++
	id := "V" + strconv.Itoa(s.seq)
	s.mu.Unlock()
	view["id"] = id
	reply(w, map[string]any{"ok": true, "view": view})
}

func (s *Server) usersInfo(w http.ResponseWriter, r *http.Request) {
	p, ok := s.params(w, r, "users.info")
	if !ok {
		return
	}
	id, _ := p["user"].(string)
	s.mu.Lock()
	u, found := s.users[id]
	s.mu.Unlock()
	if !found {
		fail(w, "user_not_found")
		return
	}
	reply(w, map[string]any{"ok": true, "user": map[string]any{
		"id": u.ID, "team_id": u.TeamID, "name": strings.ToLower(strings.ReplaceAll(u.RealName, " ", ".")), "real_name": u.RealName,
		"deleted": u.Deleted, "is_bot": u.IsBot, "profile": map[string]any{"email": u.Email, "real_name": u.RealName},
	}})
}

func (s *Server) post(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.params(w, r, method)
		if !ok {
			return
		}
		str := func(k string) string { v, _ := p[k].(string); return v }
		m := Message{Method: method, Channel: str("channel"), User: str("user"), Text: str("text"), ThreadTS: str("thread_ts")}
		if m.Channel == "" {
			fail(w, "channel_not_found")
			return
		}
		s.mu.Lock()
		if s.notInChannel[m.Channel] {
			s.mu.Unlock()
			fail(w, "not_in_channel")
			return
		}
		s.seq++
		ts := strconv.FormatInt(time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC).Unix()+int64(s.seq), 10) + ".000100"
		channel := m.Channel
		if strings.HasPrefix(channel, "U") { // a user id opens a direct message
			channel = "D" + channel[1:]
		}
		m.TS, m.Channel = ts, channel
		s.messages = append(s.messages, m)
		s.mu.Unlock()
		if method == "chat.postEphemeral" {
			reply(w, map[string]any{"ok": true, "message_ts": ts})
			return
		}
		reply(w, map[string]any{"ok": true, "channel": channel, "ts": ts, "message": map[string]any{"text": m.Text, "ts": ts}})
	}
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	var v map[string]any
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	v["_path"] = r.URL.Path
	s.mu.Lock()
	s.responses = append(s.responses, v)
	s.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

// Sign returns the headers Slack signs a request to an app with (v0:
// HMAC-SHA256 over "v0:timestamp:body" under the signing secret).
func Sign(secret string, body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h
}
