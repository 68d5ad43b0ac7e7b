package poster

import (
	"fmt"
	"strconv"

	"github.com/filecoin-project/go-state-types/abi"
	"github.com/prometheus/client_golang/prometheus"
)

// Runner states, as the runners gauge and the logs name them.
const (
	stateChecking  = "checking"
	stateProving   = "proving"
	stateWaiting   = "waiting_submit"
	stateSubmitted = "submitted"
	stateProven    = "proven"
	stateFailed    = "failed"
	stateNoSectors = "no_sectors"
	stateAborted   = "aborted"
)

// metrics are the poster's Prometheus figures, per miner.
type metrics struct {
	submitLatency  *prometheus.HistogramVec
	phaseSeconds   *prometheus.HistogramVec
	sectorsChecked *prometheus.CounterVec
	sectorsSkipped *prometheus.CounterVec
	proofsSent     *prometheus.CounterVec
	proofsFailed   *prometheus.CounterVec
	runners        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		submitLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "damocles", Subsystem: "poster", Name: "deadline_submit_seconds",
			Help:    "Time from a deadline's runner start to each of its WindowPoSt messages pushed.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10), // 10ms .. ~3.3min
		}, []string{"miner"}),
		phaseSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "damocles", Subsystem: "poster", Name: "phase_seconds",
			Help:    "Time a runner spends checking sectors, proving and verifying, per batch; start_to_verified is the time from the runner's start to a batch's proof verified.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms .. ~4.4min
		}, []string{"miner", "phase"}),
		sectorsChecked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "damocles", Subsystem: "poster", Name: "sectors_checked_total",
			Help: "Sectors checked before proving.",
		}, []string{"miner"}),
		sectorsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "damocles", Subsystem: "poster", Name: "sectors_skipped_total",
			Help: "Sectors left out of a WindowPoSt: bad at the check or reported faulty by the prover.",
		}, []string{"miner"}),
		proofsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "damocles", Subsystem: "poster", Name: "proofs_sent_total",
			Help: "SubmitWindowedPoSt messages pushed.",
		}, []string{"miner"}),
		proofsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "damocles", Subsystem: "poster", Name: "proofs_failed_total",
			Help: "Failures on the way to an accepted WindowPoSt, by stage: prove, verify, push, message (executed with a non-zero exit code).",
		}, []string{"miner", "stage"}),
		runners: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "damocles", Subsystem: "poster", Name: "runners",
			Help: "Deadline runners by state.",
		}, []string{"miner", "state"}),
	}
	for _, c := range []prometheus.Collector{m.submitLatency, m.phaseSeconds, m.sectorsChecked, m.sectorsSkipped, m.proofsSent, m.proofsFailed, m.runners} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("poster: register metrics: %w", err)
		}
	}
	return m, nil
}

func minerLabel(id abi.ActorID) string { return strconv.FormatUint(uint64(id), 10) }

// moveRunner counts a runner out of state from (none when "") into to.
func (m *metrics) moveRunner(miner abi.ActorID, from, to string) {
	if from != "" {
		m.runners.WithLabelValues(minerLabel(miner), from).Dec()
	}
	if to != "" {
		m.runners.WithLabelValues(minerLabel(miner), to).Inc()
	}
}
