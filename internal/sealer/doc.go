// Package sealer owns the worker-facing half of the manager's Venus API:
// the calls a damocles-worker makes while it seals (and, for now, its
// heartbeat). The sector state machine, number allocation and commitment
// messages it drives live in their own packages; this one translates the
// wire shapes of PROTOCOLS-damocles.md into calls on them.
package sealer
