package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sluicedb/sluice/bench"
)

// Load reads result files. A file holds one JSON bench.Result, a JSON
// array of them, or several such values one after another (JSON lines).
// The results are returned in the order of paths, then of the file; the
// caller owns them.
//
// A file that cannot be read or parsed gives an error naming the file
// (and, for malformed JSON, the byte offset). A result whose version is
// not bench.ResultVersion gives an error matching ErrVersion, a JSON null
// one matching ErrNilResult, and no result at all one matching
// ErrNoResults.
func Load(paths ...string) ([]*bench.Result, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no result file given", ErrNoResults)
	}
	var all []*bench.Result
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("report: load results: %w", err)
		}
		rs, err := parse(data)
		if err != nil {
			return nil, fmt.Errorf("report: %s: %w", path, err)
		}
		all = append(all, rs...)
	}
	return all, nil
}

// parse decodes the JSON values in data and checks each result.
func parse(data []byte) ([]*bench.Result, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var rs []*bench.Result
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated JSON at byte offset %d: %w", len(data), err)
		}
		if err != nil {
			return nil, jsonError(err, 0)
		}
		// The offset of this value, so type errors inside it (whose
		// offsets count from the value's start) point into the file.
		start := dec.InputOffset() - int64(len(raw))
		if raw[0] == '[' {
			var list []*bench.Result
			if err := json.Unmarshal(raw, &list); err != nil {
				return nil, jsonError(err, start)
			}
			rs = append(rs, list...)
			continue
		}
		var r *bench.Result
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, jsonError(err, start)
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%w in file", ErrNoResults)
	}
	for i, r := range rs {
		if r == nil {
			return nil, fmt.Errorf("result %d: %w", i, ErrNilResult)
		}
		if r.Version != bench.ResultVersion {
			return nil, fmt.Errorf("result %d (%q): version %d, want %d: %w",
				i, r.Label, r.Version, bench.ResultVersion, ErrVersion)
		}
	}
	return rs, nil
}

// jsonError adds the byte offset in the file to a JSON error; base is
// the offset of the value that was being decoded.
func jsonError(err error, base int64) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at byte offset %d: %w", base+syn.Offset, err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("bad value at byte offset %d: %w", base+typ.Offset, err)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}
