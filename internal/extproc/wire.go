package extproc

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// ReadyLine is the exact first line a child writes on stdout, newline
// included. The Go parent compares it byte for byte (no trimming), as
// damocles's manager does, so a child that passes here passes there.
func ReadyLine(stage string) string {
	return stage + " processor ready\n"
}

// ioBufferSize is the size of the buffered pipe reader and writer on both
// sides, damocles's 1 MiB: stage payloads (PC1 outputs, vanilla proofs) are
// large single lines and should cross in few syscalls.
const ioBufferSize = 1 << 20

// wireRequest is a request line. Pointer and raw fields let the receiver
// tell a missing key from a zero value.
type wireRequest struct {
	ID   *uint64         `json:"id"`
	Task json.RawMessage `json:"task"`
}

// wireResponse is a response line. Both keys are always written (no
// omitempty): the Rust parent requires them.
type wireResponse struct {
	ID     *uint64         `json:"id"`
	ErrMsg *string         `json:"err_msg"`
	Output json.RawMessage `json:"output"`
}

// requestLine builds the line for one request; task must be compact JSON
// so that the line holds no newline but its last byte.
func requestLine(id uint64, task []byte) []byte {
	line := make([]byte, 0, len(task)+32)
	line = append(line, `{"id":`...)
	line = strconv.AppendUint(line, id, 10)
	line = append(line, `,"task":`...)
	line = append(line, task...)
	return append(line, "}\n"...)
}

// isNull reports whether a raw JSON value is absent or the literal null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// excerpt shortens a protocol line for a log field: a bad line can be a
// megabyte of proof data.
func excerpt(line []byte) string {
	const limit = 256
	line = bytes.TrimRight(line, "\n")
	if len(line) > limit {
		return string(line[:limit]) + "..."
	}
	return string(line)
}
