package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicedb/sluice/client"
)

// recordJSON is a record as produce --format json reads it and consume -o
// json prints it, one object per line. Key and value are strings when
// they are valid UTF-8; otherwise consume prints key_base64/value_base64
// (standard base64) instead, and produce accepts either form. A null or
// absent key is no key. Header values are strings.
type recordJSON struct {
	Stream      string            `json:"stream,omitempty"`
	Partition   *int32            `json:"partition,omitempty"`
	Offset      *int64            `json:"offset,omitempty"`
	Timestamp   string            `json:"timestamp,omitempty"`
	Key         *string           `json:"key"`
	KeyBase64   *string           `json:"key_base64,omitempty"`
	Value       *string           `json:"value,omitempty"`
	ValueBase64 *string           `json:"value_base64,omitempty"`
	Headers     map[string]string `json:"headers"`
}

// encodeRecordJSON renders a consumed record as one line of JSON (without
// the newline).
func encodeRecordJSON(r *client.Record) ([]byte, error) {
	j := recordJSON{Stream: r.Stream, Partition: &r.Partition, Offset: &r.Offset,
		Timestamp: r.Timestamp.UTC().Format(time.RFC3339Nano), Headers: map[string]string{}}
	j.Key, j.KeyBase64 = textOrBase64(r.Key)
	j.Value, j.ValueBase64 = textOrBase64(r.Value)
	if j.Value == nil && j.ValueBase64 == nil {
		empty := ""
		j.Value = &empty
	}
	for _, h := range r.Headers {
		j.Headers[h.Key] = string(h.Value)
	}
	return json.Marshal(j)
}

// textOrBase64 returns b as text when it is valid UTF-8, else as base64;
// nil for nil.
func textOrBase64(b []byte) (text, b64 *string) {
	if b == nil {
		return nil, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

// decodeRecordJSON parses one input line of produce --format json into
// rec (Stream and, when the line has none, Partition are left as they are).
func decodeRecordJSON(line []byte, rec *client.Record) error {
	var j recordJSON
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return fmt.Errorf("not a JSON record: %w", err)
	}
	if d.More() {
		return errors.New("more than one JSON value on the line")
	}
	var err error
	if rec.Key, err = fromTextOrBase64("key", j.Key, j.KeyBase64); err != nil {
		return err
	}
	if rec.Value, err = fromTextOrBase64("value", j.Value, j.ValueBase64); err != nil {
		return err
	}
	if rec.Value == nil {
		rec.Value = []byte{}
	}
	if j.Partition != nil {
		if *j.Partition < 0 {
			return fmt.Errorf("partition %d", *j.Partition)
		}
		rec.Partition = *j.Partition
	}
	if j.Timestamp != "" {
		if rec.Timestamp, err = time.Parse(time.RFC3339Nano, j.Timestamp); err != nil {
			return fmt.Errorf("timestamp %q is not RFC 3339", j.Timestamp)
		}
		// consume -o json prints it in UTC: it must have a year RFC 3339
		// can write there ("0000-01-01T00:30:00+01:00" is in year -1).
		if y := rec.Timestamp.UTC().Year(); y < 0 || y > 9999 {
			return fmt.Errorf("timestamp %q is not within the years 0000 to 9999 in UTC", j.Timestamp)
		}
	}
	rec.Headers = nil
	for _, k := range slices.Sorted(maps.Keys(j.Headers)) {
		rec.Headers = append(rec.Headers, client.Header{Key: k, Value: []byte(j.Headers[k])})
	}
	return nil
}

func fromTextOrBase64(field string, text, b64 *string) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, fmt.Errorf("both %s and %s_base64", field, field)
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("%s_base64: %w", field, err)
		}
		return b, nil
	case text != nil:
		return []byte(*text), nil
	}
	return nil, nil
}

// writeRecordText renders a consumed record for people, in logfmt style:
//
//	partition=3 offset=17 time=2025-01-02T03:04:05.678Z key=k1 value=hello h.trace=abc
//
// Values that are empty or hold spaces, quotes, "=" or non-printable
// characters are quoted (Go syntax).
func writeRecordText(w io.Writer, r *client.Record) error {
	var b strings.Builder
	b.WriteString("partition=")
	b.WriteString(strconv.Itoa(int(r.Partition)))
	b.WriteString(" offset=")
	b.WriteString(strconv.FormatInt(r.Offset, 10))
	b.WriteString(" time=")
	b.WriteString(r.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	if r.Key != nil {
		b.WriteString(" key=")
		b.WriteString(logfmtValue(r.Key))
	}
	b.WriteString(" value=")
	b.WriteString(logfmtValue(r.Value))
	for _, h := range r.Headers {
		b.WriteString(" h.")
		b.WriteString(logfmtValue([]byte(h.Key)))
		b.WriteString("=")
		b.WriteString(logfmtValue(h.Value))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func logfmtValue(v []byte) string {
	s := string(v)
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '=' || r == '\\' || r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// maxLineBytes bounds one input line of produce (a record is bounded by
// the stream's limit, at most 1 GiB; this keeps a stray binary file from
// eating the memory).
const maxLineBytes = 256 << 20

// errLineTooLong reports an input line over maxLineBytes.
var errLineTooLong = fmt.Errorf("line longer than %d bytes", maxLineBytes)

// readLine returns the next line of r without its "\n" (or "\r\n") in a
// new slice, and io.EOF after the last. A last line without "\n" counts.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > maxLineBytes {
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}
