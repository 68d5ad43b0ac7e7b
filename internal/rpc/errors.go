package rpc

import (
	"errors"
	"strings"

	"github.com/filecoin-project/go-jsonrpc"
)

// CodeSectorStateNotFound is damocles's APIErrCodeSectorStateNotFound
// (PROTOCOLS-damocles.md §1.4): the worker aborts a sector whose sealing
// call answers it, so it is only for a sector the manager does not know.
const CodeSectorStateNotFound jsonrpc.ErrorCode = 11001

// sectorStateNotFoundPrefix starts the message of every 11001 error, as
// damocles words it.
const sectorStateNotFoundPrefix = "error code 11001: sector state not found"

// SectorStateNotFoundError answers a sealing call for a sector the manager
// has no state for, with code 11001. go-jsonrpc takes the code from the
// error a method returns only when that error itself (not one wrapping
// it) has ToJSONRPCError, so methods return it as it is.
type SectorStateNotFoundError struct {
	// Detail names the sector and the call; it follows the fixed prefix.
	Detail string
}

// ErrSectorStateNotFound returns the 11001 error with detail.
func ErrSectorStateNotFound(detail string) *SectorStateNotFoundError {
	return &SectorStateNotFoundError{Detail: detail}
}

func (e *SectorStateNotFoundError) Error() string {
	if e.Detail == "" {
		return sectorStateNotFoundPrefix
	}
	return sectorStateNotFoundPrefix + ": " + e.Detail
}

// ToJSONRPCError gives the wire error: code and message only, the keys the
// Rust worker accepts.
func (e *SectorStateNotFoundError) ToJSONRPCError() (jsonrpc.JSONRPCError, error) {
	return jsonrpc.JSONRPCError{Code: CodeSectorStateNotFound, Message: e.Error()}, nil
}

// FromJSONRPCError reads the wire error back (for a client that registers
// the type with go-jsonrpc).
func (e *SectorStateNotFoundError) FromJSONRPCError(je jsonrpc.JSONRPCError) error {
	e.Detail = strings.TrimPrefix(strings.TrimPrefix(je.Message, sectorStateNotFoundPrefix), ": ")
	return nil
}

var _ jsonrpc.RPCErrorCodec = (*SectorStateNotFoundError)(nil)

// IsSectorStateNotFound tells whether err is the 11001 error: as the typed
// client returns it (a *jsonrpc.JSONRPCError with that code) or as a
// method returns it in process.
func IsSectorStateNotFound(err error) bool {
	var local *SectorStateNotFoundError
	if errors.As(err, &local) {
		return true
	}
	var remote *jsonrpc.JSONRPCError
	return errors.As(err, &remote) && remote.Code == CodeSectorStateNotFound
}
