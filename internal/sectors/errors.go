package sectors

import "errors"

// ErrSectorNotFound is returned (wrapped) for a sector the manager has no
// state for; the sealer API answers it with error code 11001, which makes
// the worker abort the sector. The text is damocles's.
var ErrSectorNotFound = errors.New("sector state not found")

// ErrSectorExists is returned (wrapped) by States.Create for a sector that
// already has a state.
var ErrSectorExists = errors.New("sector state already exists")
