// Package worker owns the damocles-worker daemon: its local stores (sealing
// locations and attached persist stores, and the markers that prove they are
// mounted), its connection to the manager, its sealing threads (plan sealer:
// seal and persist sectors; plan wdpost: claim, prove and report the
// manager's WindowPoSt jobs) and the processors that compute their proofs.
// The manager's side of those conversations is internal/rpc's and the
// manager's; the proofs themselves are internal/proofs'.
package worker
