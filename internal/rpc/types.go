package rpc

// The wire types of the Venus methods. Structs carry no json tags: the
// Rust worker decodes case-sensitively and expects the Go field names
// (PROTOCOLS-damocles.md §0, §2.1), which is what encoding/json emits.

// Meta is the result of methods that only acknowledge (damocles'
// core.Meta). Its value is always nil so that it encodes as JSON null:
// the Rust worker declares these results as (), which serde accepts only
// from null; {} or a missing result breaks it.
type Meta *struct{}

// WorkerInfo is what a damocles-worker reports on every WorkerPing.
type WorkerInfo struct {
	// Name is the worker's configured name, or its local IP.
	Name string
	// Dest is <worker IP>:<worker rpc port>, where the manager's CLI
	// reaches the worker's own VenusWorker API.
	Dest string
	// Version is the worker's version, like v0.x.y-<git commit>.
	Version string
	// Summary counts the worker's sealing threads by state.
	Summary WorkerThreadsSummary
}

// WorkerThreadsSummary counts a worker's sealing threads by state.
type WorkerThreadsSummary struct {
	Threads uint
	Empty   uint
	Paused  uint
	Running uint
	Waiting uint
	Errors  uint
}

// WorkerPingInfo is a worker as last seen by the manager.
type WorkerPingInfo struct {
	Info WorkerInfo
	// LastPing is the time of the last WorkerPing, in unix seconds.
	LastPing int64
}
