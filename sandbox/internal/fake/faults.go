package fake

import (
	"net/http"
	"sync/atomic"

	"github.com/regsync/regsync/internal/crmfault"
)

// FaultSwitch puts random faults (crmfault) in front of a fake while it
// serves. A fake embeds it, so that its SetInjector and Injector are the
// fake's.
type FaultSwitch struct {
	in atomic.Pointer[crmfault.Injector]
}

// SetInjector puts random faults (crmfault) in front of the fake, or takes
// them away with nil, while it serves: a test seeds the fake first, then
// turns faults on. The fake's Options.Injector sets the first one.
func (f *FaultSwitch) SetInjector(in *crmfault.Injector) { f.in.Store(in) }

// Injector is the fault injector in force, or nil; its counts say which
// faults were injected.
func (f *FaultSwitch) Injector() *crmfault.Injector { return f.in.Load() }

// Wrap serves next behind the injector in force, answering injected
// faults in the CRM's shapes; route sorts requests for the injector, and
// done (the fake's end) cuts injected latency short.
func (f *FaultSwitch) Wrap(next http.Handler, shapes crmfault.Shapes, route func(*http.Request) crmfault.Route, done <-chan struct{}) http.Handler {
	return &crmfault.Handler{Next: next, Injector: f.in.Load, Shapes: shapes, Route: route, Done: done}
}
