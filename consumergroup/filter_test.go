package consumergroup

import (
	"errors"
	"testing"
)

func headersOf(kv ...string) func(string) ([]byte, bool) {
	return func(name string) ([]byte, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == name {
				return []byte(kv[i+1]), true
			}
		}
		return nil, false
	}
}

func TestFilterMatch(t *testing.T) {
	f, err := ParseFilter(`{"key": ["order-1", {"prefix": "eu-"}],
		"headers.amount": [{"numeric": [">=", 10, "<", 100]}, 500],
		"headers.type": [{"anything-but": ["test"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  []byte
		hdrs []string
		want bool
	}{
		{"all match", []byte("eu-7"), []string{"amount", "42", "type", "real"}, true},
		{"equal key", []byte("order-1"), []string{"amount", "10", "type", "real"}, true},
		{"number equal", []byte("order-1"), []string{"amount", "500.0", "type", "real"}, true},
		{"key fails", []byte("us-1"), []string{"amount", "42", "type", "real"}, false},
		{"range upper bound excluded", []byte("eu-7"), []string{"amount", "100", "type", "real"}, false},
		{"not a number", []byte("eu-7"), []string{"amount", "lots", "type", "real"}, false},
		{"anything-but excluded", []byte("eu-7"), []string{"amount", "42", "type", "test"}, false},
		{"header absent", []byte("eu-7"), []string{"type", "real"}, false},
		{"no key", nil, []string{"amount", "42", "type", "real"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.Match(tt.key, headersOf(tt.hdrs...)); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	ex, err := ParseFilter(`{"headers.trace": [{"exists": false}], "key": [{"exists": true}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Match([]byte("k"), headersOf()) || ex.Match([]byte("k"), headersOf("trace", "1")) || ex.Match(nil, headersOf()) {
		t.Error("exists conditions")
	}
	for _, text := range []string{"  ", "{}", " { } "} {
		all, err := ParseFilter(text)
		if err != nil || !all.MatchAll() || !all.Match(nil, headersOf()) || all.String() != "" {
			t.Errorf("empty filter %q: %q %v", text, all, err)
		}
	}
}

func TestFilterCanonical(t *testing.T) {
	a, err := ParseFilter(`{"key": ["x"], "headers.b": [1]}`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseFilter(`{ "headers.b" : [ 1 ] , "key":["x"] }`)
	if err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() || a.String() != `{"headers.b":[1],"key":["x"]}` {
		t.Errorf("canonical texts %q and %q", a.String(), b.String())
	}
}

func TestFilterInvalid(t *testing.T) {
	for _, text := range []string{
		`[]`, `{"key": "x"}`, `{"key": []}`, `{"value": ["x"]}`, `{"headers.": ["x"]}`,
		`{"key": [{"prefix": 1}]}`, `{"key": [{"numeric": [">", "x"]}]}`, `{"key": [{"numeric": ["!", 1]}]}`,
		`{"key": [{"numeric": [">", 1, "<"]}]}`, `{"key": [{"exists": "yes"}]}`, `{"key": [{"anything-but": []}]}`,
		`{"key": [{"regex": ".*"}]}`, `{"key": [{"prefix": "a", "exists": true}]}`, `{"key": [true]}`,
		`{"key": ["x"]} extra`, `{"key": [1e999]}`,
	} {
		if _, err := ParseFilter(text); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("ParseFilter(%s) = %v, want ErrInvalidFilter", text, err)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	f.Add(`{"key": ["order-1", {"prefix": "eu-"}], "headers.amount": [{"numeric": [">=", 10, "<", 100]}]}`)
	f.Add(`{"headers.t": [{"exists": false}, {"anything-but": ["a"]}]}`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, text string) {
		flt, err := ParseFilter(text)
		if err != nil {
			if !errors.Is(err, ErrInvalidFilter) {
				t.Fatal(err)
			}
			return
		}
		again, err := ParseFilter(flt.String())
		if err != nil || again.String() != flt.String() {
			t.Fatalf("canonical text %q does not parse back the same: %v", flt.String(), err)
		}
		flt.Match([]byte("k"), headersOf("a", "1"))
	})
}
