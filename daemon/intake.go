package daemon

import "net/http"

// statusLink is a registration's login-free status link.
func statusLink(_ *Daemon, _ string) string { return "" }

// mountIntake mounts the intake channels and the status pages.
func mountIntake(_ *Daemon, _ *http.ServeMux) {}
