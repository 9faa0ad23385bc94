// Package fake holds what the sandbox's fake CRMs (sandbox/hubspot,
// sandbox/salesforce) do alike and what is no CRM's wire format: serving a
// handler on a listener until Close, the switch of random faults in front
// of it, and the injected latency of every answer.
package fake

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Listener serves a fake's handler on a TCP address until Close.
type Listener struct {
	srv  *http.Server
	url  string
	done chan struct{}
}

// Listen serves h on addr ("127.0.0.1:0": a fresh loopback port) in the
// background. Requests' contexts derive from base (nil: none), so that a
// fake's Close can end the answers it holds. A failure to serve after the
// listener is open goes to log, as name.
func Listen(addr string, h http.Handler, base context.Context, log *slog.Logger, name string) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &Listener{url: "http://" + ln.Addr().String(), done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	if base != nil {
		l.srv.BaseContext = func(net.Listener) context.Context { return base }
	}
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(name+": serve", "err", err)
		}
	}()
	return l, nil
}

// URL is the base URL, "http://127.0.0.1:port".
func (l *Listener) URL() string { return l.url }

// Close stops serving: it lets the answers under way finish for up to five
// seconds, then drops the connections, and waits for the server to stop.
// A nil Listener (a fake served on someone else's listener) has nothing to
// stop.
func (l *Listener) Close() {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
	<-l.done
}
