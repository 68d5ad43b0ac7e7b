// Package demo owns `damocles-devnet demo`: a whole cluster on one machine
// that seals a few 2KiB sectors and proves them with WindowPoSt while the
// operator watches. It runs the devnet in its own process (so it reads the
// chain's state and the observer records directly), starts
// damocles-manager (`daemon run --poster`, SQLite) and damocles-worker as
// child processes on loopback, writes their config, shows each deadline
// that holds sectors going waiting → proving → submitted → proven (or
// missed), and ends with the summary line `proven=P missed=M faulty=F`
// once every such deadline has been proven after the last sector became
// active. Interrupted, it stops every process it started and removes its
// temporary home.
//
// It does not own the chain's rules or records (internal/devnet), the
// devnet's RPC face (internal/devnet/node), nor sealing and proving, which
// the manager and worker binaries do exactly as in production: the demo
// only configures them, watches the chain and judges by it.
package demo
