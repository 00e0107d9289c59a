package checker

import "errors"

// ErrInvalidConfig reports a Config that Config.Validate refuses. A
// history that history.ValidateHistory refuses is reported with the
// history package's errors (history.ErrBadValue, ErrDuplicateID,
// ErrDuplicateValue). Violations are not errors of Check: they are in the
// Report.
var ErrInvalidConfig = errors.New("checker: invalid config")
