package bench

import (
	"math"
	"runtime"
	"time"
)

// Timing is a measured duration written for programs (milliseconds) and
// for people (Go's duration text, rounded to the microsecond).
type Timing struct {
	Ms   float64 `json:"ms"`
	Text string  `json:"text"`
}

func timing(d time.Duration) Timing {
	return Timing{
		Ms:   math.Round(float64(d)/float64(time.Microsecond)) / 1000,
		Text: d.Round(time.Microsecond).String(),
	}
}

// StageResult is one measured stage.
type StageResult struct {
	Name     string `json:"name"`
	Duration Timing `json:"duration"`
	// BytesWritten is the data the stage added to the sector's files:
	// the growth of every file it created or grew, holes of sparse files
	// left out (see diff and dataBytes).
	BytesWritten int64 `json:"bytes_written"`
	// BytesRemoved is the data of the sector's files the stage deleted
	// or truncated: finalize gives the layers and trees back.
	BytesRemoved int64 `json:"bytes_removed"`
}

// Machine is what a reader needs to compare figures from two machines.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	// LoadAvg is the 1, 5 and 15 minute load averages when the run
	// ended (Linux only): a busy machine makes every figure worse.
	LoadAvg []float64 `json:"load_avg,omitempty"`
}

func thisMachine() Machine {
	return Machine{
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		LoadAvg:    loadAvg(),
	}
}
