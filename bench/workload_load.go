package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// LoadWorkload reads, defaults and validates the workload file at path
// (see ParseWorkload). A file that cannot be read is returned as a
// wrapped *fs.PathError; anything wrong with its content is a
// *WorkloadError.
func LoadWorkload(path string) (*Workload, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: load workload: %w", err)
	}
	return ParseWorkload(data, path)
}

// ParseWorkload decodes a YAML workload, fills the defaults (see
// Workload.SetDefaults) and validates it (see Workload.Validate). source
// names the workload in errors; it is also the file the workload came
// from: Name defaults to its base name without extension, and a relative
// payloadFile is resolved against its directory (PayloadFile then holds
// the resolved path, and MessageSize the file's size, whatever the YAML
// said).
//
// Decoding is strict: an unknown or duplicated field, a second YAML
// document, or a value of the wrong type is an error. Every error is a
// *WorkloadError naming the field (and its line) where there is one; a
// YAML syntax error wraps the YAML package's error.
func ParseWorkload(data []byte, source string) (*Workload, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, &WorkloadError{Source: source, Msg: err.Error(), Err: err}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &WorkloadError{Source: source, Line: extra.Line, Msg: "more than one YAML document"}
	} else if !errors.Is(err, io.EOF) {
		return nil, &WorkloadError{Source: source, Msg: err.Error(), Err: err}
	}

	var w Workload
	lines, werr := decodeFields(&root, &w)
	if werr != nil {
		werr.Source = source
		return nil, werr
	}
	// The field walk above decoded every field and named any culprit; a
	// second, strict decode of the whole document is the library's own
	// check that nothing was missed.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var check Workload
	if err := strict.Decode(&check); err != nil && !errors.Is(err, io.EOF) {
		return nil, &WorkloadError{Source: source, Msg: yamlMessage(err), Err: err}
	}

	if w.Name == "" && source != "" {
		base := filepath.Base(source)
		w.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if w.PayloadFile != "" && !filepath.IsAbs(w.PayloadFile) {
		w.PayloadFile = filepath.Join(filepath.Dir(source), w.PayloadFile)
	}
	w.SetDefaults()
	if err := w.Validate(); err != nil {
		var we *WorkloadError
		if errors.As(err, &we) {
			we.Source = source
			we.Line = lines[we.Field]
		}
		return nil, err
	}
	if w.PayloadFile != "" {
		fi, err := os.Stat(w.PayloadFile)
		if err != nil {
			return nil, &WorkloadError{Source: source, Field: "payloadFile", Line: lines["payloadFile"], Msg: err.Error(), Err: err}
		}
		w.MessageSize = int(fi.Size()) // Validate bounded it
	}
	return &w, nil
}

// decodeFields decodes each top-level key of root into the field of w
// with that YAML name, so that an unknown field or a bad value is
// reported with its name and line. It returns each field's line.
func decodeFields(root *yaml.Node, w *Workload) (map[string]int, *WorkloadError) {
	lines := make(map[string]int)
	if root.Kind == 0 {
		return lines, nil // an empty document
	}
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return lines, nil
	}
	if doc.Kind != yaml.MappingNode {
		return nil, &WorkloadError{Line: doc.Line, Msg: "a workload must be a YAML mapping of field: value"}
	}
	fields := workloadFields()
	v := reflect.ValueOf(w).Elem()
	for i := 0; i+1 < len(doc.Content); i += 2 {
		key, val := doc.Content[i], doc.Content[i+1]
		name := key.Value
		idx, ok := fields[name]
		if !ok {
			return nil, &WorkloadError{Field: name, Line: key.Line, Msg: "unknown field"}
		}
		if _, dup := lines[name]; dup {
			return nil, &WorkloadError{Field: name, Line: key.Line, Msg: fmt.Sprintf("defined twice (first at line %d)", lines[name])}
		}
		lines[name] = key.Line
		if err := val.Decode(v.Field(idx).Addr().Interface()); err != nil {
			// The line is in the error already; say it once.
			msg := strings.TrimPrefix(yamlMessage(err), fmt.Sprintf("line %d: ", val.Line))
			return nil, &WorkloadError{Field: name, Line: key.Line, Msg: msg, Err: err}
		}
	}
	return lines, nil
}

// workloadFields maps each YAML field name of Workload to its field
// index.
func workloadFields() map[string]int {
	t := reflect.TypeFor[Workload]()
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// yamlMessage returns err's message on one line: the YAML package's
// type errors list one problem per line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return strings.Join(te.Errors, "; ")
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// TestDuration is the length of the measured phase (0 when the run is
// bounded by RecordCount alone).
func (w *Workload) TestDuration() time.Duration {
	return minutes(w.TestDurationMinutes)
}

// Warmup is the length of the warm-up phase, whose records are left out
// of the results.
func (w *Workload) Warmup() time.Duration {
	return minutes(w.WarmupDurationMinutes)
}

// minutes converts a (validated) number of minutes to a Duration,
// rounded to the millisecond.
func minutes(m float64) time.Duration {
	return (time.Duration(m*float64(time.Minute)) + time.Millisecond/2).Truncate(time.Millisecond)
}

// PayloadBytes returns the payload every record carries (the harness
// overwrites its first 8 bytes with the send time, in a copy): the
// contents of PayloadFile, or else MessageSize random bytes (new ones at
// each call; random so that compression cannot shrink them). The caller
// owns the returned slice.
func (w *Workload) PayloadBytes() ([]byte, error) {
	if w.PayloadFile != "" {
		b, err := os.ReadFile(w.PayloadFile)
		if err != nil {
			return nil, fmt.Errorf("bench: payload file: %w", err)
		}
		if len(b) < stampSize {
			return nil, fieldErrorf("payloadFile", "%s has %d bytes, fewer than the %d-byte send time", w.PayloadFile, len(b), stampSize)
		}
		return b, nil
	}
	if w.MessageSize < stampSize || w.MessageSize > maxMessageSize {
		return nil, fieldErrorf("messageSize", "must be between %d and %d, got %d", stampSize, maxMessageSize, w.MessageSize)
	}
	b := make([]byte, w.MessageSize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return b, nil
}

// MarshalYAML writes d as a Go duration string ("5ms").
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML reads a Go duration string ("5ms", "1.5s"; "0" is 0).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as \"5ms\", got a YAML %s", kindName(n.Kind))
	}
	if n.Tag == "!!null" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("want a duration such as \"5ms\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes d as a Go duration string ("5ms").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string, or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var ns int64
		if err2 := json.Unmarshal(b, &ns); err2 != nil {
			return fmt.Errorf("bench: duration: want a string such as \"5ms\": %w", err)
		}
		*d = Duration(ns)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bench: duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// String returns d as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// kindName names a YAML node kind for error messages.
func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.AliasNode:
		return "alias"
	default:
		return "document"
	}
}
