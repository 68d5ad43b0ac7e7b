// Package version owns the version string every binary reports, in the form
// damocles uses on the wire (Venus.Version): v<version>-<prover>-<commit>.
package version

// Number is the release this tree builds.
const Number = "0.1.0"

// Prover names the proof engine compiled in. damocles reports "prod" for
// filecoin-ffi builds and "fake" for mock builds; ours is the built-in engine.
const Prover = "devproof"

// Commit is set at link time: -ldflags "-X .../internal/version.Commit=<sha>".
var Commit = ""

// String returns v<Number>-<Prover>-<Commit>, e.g. "v0.1.0-devproof-abc123".
func String() string {
	return "v" + Number + "-" + Prover + "-" + Commit
}
