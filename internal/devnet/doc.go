// Package devnet owns the simulated Filecoin chain behind damocles-devnet:
// epochs and tipsets, accounts and the devnet wallet, the power and miner
// actors (sector pre-commits, activation into deadlines and partitions,
// faults, recoveries, terminations), message execution with exit codes and
// CBOR return values, the deadline cron, chain randomness, persistence, and
// the observer records that end-to-end tests judge the system by.
//
// It does not own the JSON-RPC server, the Lotus JSON shapes or the block
// clock: a server calls AdvanceEpoch every block time and maps the Go API
// onto the Lotus v1 methods; tests call AdvanceEpoch directly and never
// sleep.
//
// The chain is the judge of end-to-end tests, so its rules are the real
// ones: the builtin-actors v19 miner and power types and method numbers
// (BuiltinActorsVersion, network version NetworkVersion), the real proving
// period, deadlines, challenge lookback, fault cutoff and partition sizes,
// and every PoRep and WindowPoSt checked by a Verifier (devproof's engine).
// Only PreCommitChallengeDelay and, for scale tests, the partition size can
// be changed. What the devnet leaves out: money (no deposits, pledge, fees
// or gas charges: GasUsed is 0 and a message never fails for gas), the
// market and verified-registry actors (deals are refused), aggregate
// proofs, consensus (one block per epoch, no election) and real
// signatures: the wallet's keys are derived from the seed and its
// signatures are simulated, so the devnet sends messages only for its own
// wallet addresses.
package devnet
