package daemon

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// An unauthenticated upload to POST /intake/csv that trickles its body
// is answered 401 at once and its connection closed: the token is checked
// before the upload's long deadline is granted, and the server does not
// wait to drain a body it will never read. (Before, 300 such uploads held
// 300 connections for the 30 minutes an import may take.)
func TestCSVSlowUnauthenticatedUploadIsRefusedAtOnce(t *testing.T) {
	r := startRig(t, rigOpts{})
	for _, tc := range []struct{ name, auth string }{
		{"no token", ""},
		{"wrong token", "Authorization: Bearer not-the-partner-upload-token\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", r.d.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Headers and the first bytes of a 200 KB body, then nothing.
			head := "POST /intake/csv HTTP/1.1\r\nHost: " + r.d.Addr().String() + "\r\n" + tc.auth +
				"Content-Type: text/csv\r\nContent-Length: 200000\r\n\r\nCompany,Domain\n"
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = conn.SetReadDeadline(start.Add(5 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer within 5s of a slow unauthenticated upload: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("answered %s, want 401", resp.Status)
			}
			// The connection is closed, not held open for the rest of the body.
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("the connection stayed open after the 401 (read: %v)", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}
