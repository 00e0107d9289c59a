package report

import "errors"

var (
	// ErrVersion is returned by Load for a result whose version is not
	// bench.ResultVersion.
	ErrVersion = errors.New("report: unsupported result version")
	// ErrNoResults is returned when there is nothing to report: Load was
	// given no path or a file holding an empty array, or HTML, PNG or
	// Table were given no result.
	ErrNoResults = errors.New("report: no results")
	// ErrNilResult is returned for a nil result (a JSON null in a file,
	// or a nil pointer passed to HTML, PNG or Table).
	ErrNilResult = errors.New("report: nil result")
	// ErrRender is returned when the plotting library fails to draw a
	// chart.
	ErrRender = errors.New("report: cannot draw chart")
)
