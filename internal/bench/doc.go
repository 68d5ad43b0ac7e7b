// Package bench owns the measurements of `damocles-worker bench`: the
// sealing stages of one sector and a WindowPoSt over many, timed on this
// machine's disks with the configured proof engine, the way lotus-bench
// measures them for Lotus users.
//
// It seals CC sectors with fixed randomness (so two runs seal identical
// sectors and prove the same challenges), times every stage, counts what
// each stage writes to disk and what a WindowPoSt reads, and checks every
// proof it makes. It keeps the sectors a WindowPoSt bench sealed, with a
// manifest, so later runs in the same directory reuse them.
//
// It does not decide what is fast enough, print anything for people, or
// pick the engine: callers pass the engine and a Progress to hear about
// stages, and get result structs that marshal to JSON.
package bench
