// Package stage owns the payloads of the external processor stages that
// run proofs (PROTOCOLS-damocles.md §4.4 and §4.5): window_post,
// winning_post, pc1, pc2 and c2. Its types encode exactly as damocles's
// Rust processors expect: snake_case keys, [32]byte values as arrays of 32
// ints, PoSt proofs as base64 strings, the c2 proof as an array of ints,
// Rust's Vec fields as [] rather than null.
//
// Child side: Handlers runs each stage on a proofs.Engine, with the Rust
// builtin processors' semantics, for extproc.Serve. Parent side: NewPoStTask
// and NewPieceInfos build tasks from the engine's types, and the Call
// functions send a typed task through an extproc.Pool and decode its
// answer.
//
// It does not start processes or frame messages (package extproc does), and
// it does not decide which sectors to prove or when (the poster and the
// sealing threads do).
package stage
