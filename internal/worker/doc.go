// Package worker owns the damocles-worker daemon: its local stores (sealing
// locations and attached persist stores, and the markers that prove they are
// mounted), its connection to the manager, and, in later issues, its sealing
// threads, plans and processors.
package worker
