// Package extproc owns the external processor protocol of damocles (§4 of
// PROTOCOLS-damocles.md): newline-delimited JSON over a child's stdin and
// stdout, a "<stage> processor ready" handshake, requests answered by id in
// any order.
//
// Parent side: a Pool starts one child process per ChildConfig, offers each
// child's Concurrent slots to callers (weighted-random among the children
// with a free slot), fails a dead child's in-flight requests at once and
// restarts it with exponential backoff. Child side: Serve answers requests
// with a handler, each on its own goroutine.
//
// It knows nothing about proofs or stages beyond their names: tasks and
// outputs are opaque JSON to it; the callers (prover, worker) own the
// payload types.
package extproc
