package rpc

import (
	"fmt"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// serverMetrics are the RPC server's Prometheus metrics. Per-method
// figures come from wrapping the proxy's Internal funcs, the only place
// that sees method names; an HTTP middleware sees one opaque POST.
type serverMetrics struct {
	calls        *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authRejected prometheus.Counter
}

func newServerMetrics(reg prometheus.Registerer) (*serverMetrics, error) {
	m := &serverMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "damocles", Subsystem: "rpc", Name: "calls_total",
			Help: "JSON-RPC calls by method and outcome (ok, or error, permission refusals included).",
		}, []string{"method", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "damocles", Subsystem: "rpc", Name: "call_duration_seconds",
			Help:    "Time spent in JSON-RPC methods.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9), // 1ms .. ~65s
		}, []string{"method"}),
		authRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "damocles", Subsystem: "rpc", Name: "auth_rejected_total",
			Help: "RPC requests answered 401 for a bad, expired or malformed token.",
		}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.duration, m.authRejected} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("rpc server: register metrics: %w", err)
		}
	}
	return m, nil
}

// instrument wraps every func in internal (a pointer to a proxy's
// Internal, such as VenusStruct's) to count and time its calls. Every such func returns an error
// last (TestVenusStructShape holds them to it).
func (m *serverMetrics) instrument(namespace string, internal any) {
	v := reflect.ValueOf(internal).Elem()
	for i := range v.NumField() {
		method := namespace + "." + v.Type().Field(i).Name
		// A copy of the func, not the field: the field is overwritten
		// below and calling through it would recurse.
		inner := reflect.ValueOf(v.Field(i).Interface())
		ok := m.calls.WithLabelValues(method, "ok")
		failed := m.calls.WithLabelValues(method, "error")
		took := m.duration.WithLabelValues(method)
		v.Field(i).Set(reflect.MakeFunc(inner.Type(), func(args []reflect.Value) []reflect.Value {
			start := time.Now()
			out := inner.Call(args)
			took.Observe(time.Since(start).Seconds())
			if out[len(out)-1].IsNil() {
				ok.Inc()
			} else {
				failed.Inc()
			}
			return out
		}))
	}
}
