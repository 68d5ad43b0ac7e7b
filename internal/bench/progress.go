package bench

import (
	"fmt"
	"io"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/schollz/progressbar/v3"
)

var log = logging.Logger("bench")

// Progress hears about a benchmark while it runs, so a terminal can show it
// and a test can record it. A benchmark calls it from the goroutine that
// runs it, one stage at a time: StageStarted, any StepDone, StageFinished.
type Progress interface {
	// StageStarted says a stage began. steps is how many StepDone calls
	// follow, or 0 when the stage is one engine call whose progress
	// nobody can see (PC1 of a 32GiB sector is hours of that).
	StageStarted(stage string, steps int)
	// StepDone says one more step of the running stage is done.
	StepDone()
	// StageFinished says the running stage ended, with what it measured;
	// err is the stage's failure, nil when it succeeded.
	StageFinished(r StageResult, err error)
}

// Discard is a Progress that ignores everything; benchmarks use it when
// given a nil Progress.
var Discard Progress = discard{}

type discard struct{}

func (discard) StageStarted(string, int)         {}
func (discard) StepDone()                        {}
func (discard) StageFinished(StageResult, error) {}

// LogProgressInterval is how often LogProgress logs the steps of a long
// stage.
const LogProgressInterval = 30 * time.Second

// LogProgress logs stages as they start and finish, and the steps of a
// long stage every LogProgressInterval, for runs whose stderr is a file or
// a pipe, where a redrawn bar would be noise. The zero value is ready.
type LogProgress struct {
	stage         string
	steps, done   int
	lastStepLogAt time.Time
}

func (p *LogProgress) StageStarted(stage string, steps int) {
	p.stage, p.steps, p.done, p.lastStepLogAt = stage, steps, 0, time.Now()
	log.Infow("bench stage started", "stage", stage)
}

func (p *LogProgress) StepDone() {
	p.done++
	if time.Since(p.lastStepLogAt) >= LogProgressInterval {
		p.lastStepLogAt = time.Now()
		log.Infow("bench stage progress", "stage", p.stage, "steps_done", p.done, "steps", p.steps)
	}
}

func (p *LogProgress) StageFinished(r StageResult, err error) {
	if err != nil {
		log.Errorw("bench stage failed", "stage", r.Name, "took", r.Duration.Text, "error", err)
		return
	}
	kv := []any{"stage", r.Name, "took", r.Duration.Text}
	if r.BytesWritten > 0 {
		kv = append(kv, "bytes_written", r.BytesWritten)
	}
	if r.BytesRemoved > 0 {
		kv = append(kv, "bytes_removed", r.BytesRemoved)
	}
	log.Infow("bench stage finished", kv...)
}

// TerminalProgress draws the running stage on a terminal, a spinner with
// the elapsed time or a bar when the stage has steps, and leaves one line
// per finished stage behind it.
type TerminalProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

// NewTerminalProgress draws on w, which should be a terminal (stderr).
func NewTerminalProgress(w io.Writer) *TerminalProgress {
	return &TerminalProgress{w: w}
}

func (p *TerminalProgress) StageStarted(stage string, steps int) {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(fmt.Sprintf("%-18s", stage)),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
	}
	total := -1 // a spinner: the engine call gives no progress
	if steps > 0 {
		total = steps
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))
	} else {
		opts = append(opts, progressbar.OptionSpinnerType(14), progressbar.OptionSetPredictTime(false))
	}
	p.bar = progressbar.NewOptions(total, opts...)
	_ = p.bar.RenderBlank()
}

func (p *TerminalProgress) StepDone() {
	if p.bar != nil {
		_ = p.bar.Add(1)
	}
}

func (p *TerminalProgress) StageFinished(r StageResult, err error) {
	if p.bar != nil {
		// Finish also stops the spinner's redraw goroutine.
		_ = p.bar.Finish()
		p.bar = nil
	}
	if err != nil {
		fmt.Fprintf(p.w, "%-18s FAILED after %s: %v\n", r.Name, r.Duration.Text, err)
		return
	}
	line := fmt.Sprintf("%-18s %12s", r.Name, r.Duration.Text)
	if r.BytesWritten > 0 {
		line += "  wrote " + FormatBytes(r.BytesWritten)
	}
	if r.BytesRemoved > 0 {
		line += "  removed " + FormatBytes(r.BytesRemoved)
	}
	fmt.Fprintln(p.w, line)
}

// FormatBytes writes a byte count in binary units with one decimal:
// "8.0 MiB", "512 B".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for (v >= unit || v <= -unit) && i < len(units)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
