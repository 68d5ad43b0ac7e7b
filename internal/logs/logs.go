// Package logs configures go-log for the three binaries: the plain console
// format of the seeds' log excerpts on stderr, with GOLOG_LOG_LEVEL and the
// other GOLOG_* variables still honoured.
package logs

import (
	"os"

	logging "github.com/ipfs/go-log/v2"
)

// Setup configures logging once at process start. Logs always go to stderr:
// stdout stays clean for command output and the processor protocol.
func Setup() {
	cfg := logging.GetConfig()
	cfg.Stderr = true
	cfg.Stdout = false
	if os.Getenv("GOLOG_LOG_FMT") == "" {
		cfg.Format = logging.PlaintextOutput
	}
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		cfg.Level = logging.LevelInfo
	}
	logging.SetupLogging(cfg)
}
