package daemon

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regsync/regsync/config"
	"github.com/regsync/regsync/internal/metrics"
	"github.com/regsync/regsync/worker"
)

// notifier picks how notifications leave: an outbox directory (the
// sandbox's default, so a newcomer can read what would have been sent), or
// none when notify.enabled is false.
func (d *Daemon) notifier(cfg *config.Config) worker.Notifier {
	if !cfg.Notify.Enabled {
		return nil
	}
	dir := cfg.Notify.Outbox
	if dir == "" && cfg.CRM.Kind == config.KindSandbox {
		dir = filepath.Join(filepath.Dir(cfg.State.Path), "outbox")
	}
	if dir != "" {
		return &outbox{dir: dir, from: "partners@regsync.invalid", m: d.m, now: d.now}
	}
	return nil
}

// outbox writes each notification as an RFC 5322 message file. A repeated
// notification (the same case, kind and status) overwrites its file, so a
// retried step never shows twice.
type outbox struct {
	dir  string
	from string
	m    *metrics.Metrics
	now  func() time.Time
}

func (o *outbox) Notify(_ context.Context, ns []worker.Notification) error {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	for _, n := range ns {
		if len(n.To) == 0 {
			continue
		}
		name := fmt.Sprintf("%s-%s-%s.eml", safe(n.CaseNumber), n.Kind, safe(string(n.Status)))
		var b bytes.Buffer
		fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s.%s.%s@regsync>\r\n",
			o.from, strings.Join(n.To, ", "), mime.QEncoding.Encode("utf-8", n.Subject), o.now().UTC().Format(time.RFC1123Z),
			safe(n.CaseNumber), n.Kind, safe(string(n.Status)))
		b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(strings.ReplaceAll(n.Text, "\n", "\r\n"))
		tmp := filepath.Join(o.dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(o.dir, name)); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		o.m.Notifications.WithLabelValues("outbox", "ok").Inc()
	}
	return nil
}

func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
