package grafana

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/regsync/regsync/connectors"
	"github.com/regsync/regsync/internal/metrics"
)

// exposed lists the regsync_ metrics a daemon exposes — its collectors
// (internal/metrics) and a connector's usage collector — with their types
// and labels: every vector is touched once, so that it is gathered.
func exposed(t *testing.T) map[string]Metric {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	usage := connectors.Usage{Calls: map[string]int64{"list": 1}, RateLimited: 1, DailyUsed: 1, DailyLimit: 2,
		PausedUntil: time.Now().Add(time.Hour)}
	if err := metrics.RegisterUsage(reg, "hubspot", func() connectors.Usage { return usage }); err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok {
			t.Fatalf("metrics.Metrics.%s is not a collector", v.Type().Field(i).Name)
		}
		descs := make(chan *prometheus.Desc, 4)
		c.Describe(descs)
		close(descs)
		var labels []string
		for d := range descs {
			// Desc{fqName: "…", help: "…", constLabels: {}, variableLabels: {a,b}}
			s := d.String()
			if j := strings.Index(s, "variableLabels: {"); j >= 0 {
				in := s[j+len("variableLabels: {"):]
				in = in[:strings.Index(in, "}")]
				if in != "" {
					labels = strings.Split(in, ",")
				}
			}
		}
		vals := make([]string, len(labels))
		for j := range vals {
			vals[j] = "x"
		}
		switch x := c.(type) {
		case *prometheus.CounterVec:
			x.WithLabelValues(vals...).Add(0)
		case *prometheus.GaugeVec:
			x.WithLabelValues(vals...).Set(0)
		case *prometheus.HistogramVec:
			x.WithLabelValues(vals...).Observe(0)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Metric{}
	for _, f := range fams {
		typ := map[dto.MetricType]string{dto.MetricType_COUNTER: "counter", dto.MetricType_GAUGE: "gauge",
			dto.MetricType_HISTOGRAM: "histogram"}[f.GetType()]
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		slices.Sort(labels)
		out[f.GetName()] = Metric{Name: f.GetName(), Type: typ, Labels: labels}
	}
	return out
}

// TestMetricsAreTheDaemons: Metrics — what the dashboard may use — is
// exactly what the daemon exposes, names, types and labels.
func TestMetricsAreTheDaemons(t *testing.T) {
	got := exposed(t)
	if len(got) < 15 {
		t.Fatalf("only %d metrics gathered: %v", len(got), got)
	}
	listed := map[string]bool{}
	for _, m := range Metrics {
		listed[m.Name] = true
		e, ok := got[m.Name]
		if !ok {
			t.Errorf("%s is in grafana.Metrics but the daemon does not expose it", m.Name)
			continue
		}
		labels := slices.Clone(m.Labels)
		slices.Sort(labels)
		if e.Type != m.Type || !slices.Equal(e.Labels, labels) {
			t.Errorf("%s: the daemon exposes a %s with labels %v; grafana.Metrics says %s with %v", m.Name, e.Type, e.Labels, m.Type, labels)
		}
	}
	for name := range got {
		if !listed[name] {
			t.Errorf("the daemon exposes %s, which grafana.Metrics (and so the dashboard) leaves out", name)
		}
	}
}
