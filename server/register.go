package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/regsync/regsync/intake"
)

// Registrations is the daemon's intake, for commands that register beside
// a running daemon (regsync import): they hand their submissions to it, so
// they pass the same locks and order as every other registration instead
// of deciding in a second process.
type Registrations interface {
	Register(ctx context.Context, subs []intake.Submission) ([]intake.Receipt, error)
	Settle(ctx context.Context, caseNumbers []string) (map[string]intake.Receipt, error)
}

// RegisterRequest is the body of POST /-/register.
type RegisterRequest struct {
	Submissions []intake.Submission `json:"submissions"`
}

// WireReceipt is a receipt as the admin endpoints answer it: the error as
// text.
type WireReceipt struct {
	intake.Receipt
	Err string `json:"error,omitempty"`
}

// ToWire converts a receipt for the admin endpoints.
func ToWire(rc intake.Receipt) WireReceipt {
	w := WireReceipt{Receipt: rc}
	w.Receipt.Err = nil
	if rc.Err != nil {
		w.Err = rc.Err.Error()
	}
	return w
}

// RegisterResponse is the answer of POST /-/register.
type RegisterResponse struct {
	Receipts []WireReceipt `json:"receipts"`
}

// SettleRequest is the body of POST /-/settle.
type SettleRequest struct {
	CaseNumbers []string `json:"case_numbers"`
}

// SettleResponse is the answer of POST /-/settle.
type SettleResponse struct {
	Receipts map[string]WireReceipt `json:"receipts"`
}

// maxRegisterBody bounds POST /-/register (100 submissions of a few KB).
const maxRegisterBody = 8 << 20

// longAdmin lets an admin handler run past the server's write timeout
// (Settle waits for decisions).
func longAdmin(w http.ResponseWriter, d time.Duration) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	if s.o.Registrations == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "this daemon takes no registrations"})
		return
	}
	var req RegisterRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxRegisterBody)).Decode(&req); err != nil || len(req.Submissions) == 0 || len(req.Submissions) > 100 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": `body must be {"submissions": [...]} with 1 to 100 submissions`})
		return
	}
	longAdmin(w, 10*time.Minute)
	rcs, err := s.o.Registrations.Register(r.Context(), req.Submissions)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error()})
		return
	}
	resp := RegisterResponse{Receipts: make([]WireReceipt, len(rcs))}
	for i, rc := range rcs {
		resp.Receipts[i] = ToWire(rc)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) settle(w http.ResponseWriter, r *http.Request) {
	if s.o.Registrations == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "this daemon takes no registrations"})
		return
	}
	var req SettleRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxRegisterBody)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": `body must be {"case_numbers": [...]}`})
		return
	}
	longAdmin(w, 10*time.Minute)
	got, err := s.o.Registrations.Settle(r.Context(), req.CaseNumbers)
	resp := SettleResponse{Receipts: make(map[string]WireReceipt, len(got))}
	for c, rc := range got {
		resp.Receipts[c] = ToWire(rc)
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error(), "receipts": resp.Receipts})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
