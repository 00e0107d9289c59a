package bench

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/sluicedb/sluice/consumergroup"
)

// Bounds of the header and filter fields.
const (
	maxHeaderNameLen  = 255
	maxHeaderValueLen = 1024
	maxHeaderValues   = 1000
	// reservedHeaderPrefix starts the names of headers that Sluice reads
	// itself (sluice-delay-ms delays a queue message).
	reservedHeaderPrefix = "sluice-"
)

// FilterList is a list of filter policies, each JSON text. In YAML each
// may also be written as a mapping, such as {headers.kind: [a, b]},
// which is turned into its JSON text.
type FilterList []string

// UnmarshalYAML reads a sequence of filters, each a string or a mapping.
func (l *FilterList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*l = nil
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("want a list of filters (JSON strings or mappings), got a YAML %s", nodeKind(n))
	}
	out := make(FilterList, 0, len(n.Content))
	for i, item := range n.Content {
		switch {
		case item.Kind == yaml.ScalarNode && item.Tag == "!!null":
			out = append(out, "")
		case item.Kind == yaml.ScalarNode && item.Tag == "!!str":
			out = append(out, item.Value)
		case item.Kind == yaml.MappingNode:
			var m map[string]any
			if err := item.Decode(&m); err != nil {
				return fmt.Errorf("filter %d: %w", i, err)
			}
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // keep ">=" legible
			if err := enc.Encode(m); err != nil {
				return fmt.Errorf("filter %d: not expressible as JSON: %w", i, err)
			}
			out = append(out, strings.TrimSuffix(b.String(), "\n"))
		default:
			return fmt.Errorf("filter %d (line %d): want a JSON string such as '{\"headers.kind\": [\"a\"]}' or a mapping, got a YAML %s",
				i, item.Line, nodeKind(item))
		}
	}
	*l = out
	return nil
}

// nodeKind names a YAML node's kind for error messages.
func nodeKind(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return "scalar " + n.Tag
	}
	return kindName(n.Kind)
}

// checkHeader checks headerName and headerValues: both set or neither.
func (w *Workload) checkHeader() *WorkloadError {
	switch {
	case w.HeaderName == "" && len(w.HeaderValues) == 0:
		return nil
	case w.HeaderName == "":
		return fieldErrorf("headerValues", "set without headerName: name the header too")
	case len(w.HeaderValues) == 0:
		return fieldErrorf("headerName", "set without headerValues: list 1 to %d values for header %q", maxHeaderValues, w.HeaderName)
	case len(w.HeaderName) > maxHeaderNameLen:
		return fieldErrorf("headerName", "must be at most %d bytes, got %d", maxHeaderNameLen, len(w.HeaderName))
	case !utf8.ValidString(w.HeaderName):
		return fieldErrorf("headerName", "must be UTF-8, got %q", w.HeaderName)
	case strings.HasPrefix(strings.ToLower(w.HeaderName), reservedHeaderPrefix):
		return fieldErrorf("headerName", "%q: the prefix %q is reserved for headers Sluice reads itself (such as sluice-delay-ms)",
			w.HeaderName, reservedHeaderPrefix)
	case len(w.HeaderValues) > maxHeaderValues:
		return fieldErrorf("headerValues", "must list at most %d values, got %d", maxHeaderValues, len(w.HeaderValues))
	}
	for i, v := range w.HeaderValues {
		if len(v) > maxHeaderValueLen {
			return fieldErrorf("headerValues", "value %d: must be at most %d bytes, got %d", i, maxHeaderValueLen, len(v))
		}
	}
	return nil
}

// checkFilters checks subscriptionFilters: one parseable filter per
// subscription.
func (w *Workload) checkFilters() *WorkloadError {
	if len(w.SubscriptionFilters) == 0 {
		return nil
	}
	if len(w.SubscriptionFilters) != w.SubscriptionsPerTopic {
		return fieldErrorf("subscriptionFilters", "want one filter per subscription: got %d for subscriptionsPerTopic %d",
			len(w.SubscriptionFilters), w.SubscriptionsPerTopic)
	}
	for i, text := range w.SubscriptionFilters {
		if _, err := consumergroup.ParseFilter(text); err != nil {
			return &WorkloadError{Field: "subscriptionFilters", Msg: fmt.Sprintf("filter %d (sub-%d): %v", i, i, err), Err: err}
		}
	}
	return nil
}

// filterReadsKey reports whether a (valid) filter has a "key" field: its
// verdict then depends on each record's key, not only on its header.
func filterReadsKey(text string) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &fields) != nil {
		return false
	}
	_, ok := fields["key"]
	return ok
}

// subFilters decides which subscriptions of a topic a record goes to.
// It is built once per run and read only after.
type subFilters struct {
	filters []*consumergroup.Filter // by subscription
	header  string                  // the workload's headerName ("": none)
	values  [][]byte                // its values
	// byKey: some filter reads the key, so a record's subscriptions are
	// worked out from its key and header (matchRecord); otherwise
	// byValue[v] lists the subscriptions of every record with header
	// value v (index 0 when there is no header).
	byKey   bool
	byValue [][]int
	// valueMatch[s][v] is whether subscription s takes header value v,
	// whatever the key; valid for the subscriptions whose filter does
	// not read the key (keyFree[s]).
	valueMatch [][]bool
	keyFree    []bool
}

// newSubFilters returns the filters of w's subscriptions, or nil when w
// has none (every subscription takes every record). w is validated.
func newSubFilters(w *Workload) (*subFilters, error) {
	if len(w.SubscriptionFilters) == 0 {
		return nil, nil
	}
	sf := &subFilters{header: w.HeaderName}
	for _, v := range w.HeaderValues {
		sf.values = append(sf.values, []byte(v))
	}
	nv := max(1, len(sf.values))
	sf.byValue = make([][]int, nv)
	for s, text := range w.SubscriptionFilters {
		f, err := consumergroup.ParseFilter(text)
		if err != nil {
			return nil, &WorkloadError{Field: "subscriptionFilters", Msg: fmt.Sprintf("filter %d: %v", s, err), Err: err}
		}
		sf.filters = append(sf.filters, f)
		free := !filterReadsKey(text)
		sf.keyFree = append(sf.keyFree, free)
		sf.byKey = sf.byKey || !free
		m := make([]bool, nv)
		for v := range nv {
			m[v] = f.Match(nil, sf.headerOf(v))
			if m[v] {
				sf.byValue[v] = append(sf.byValue[v], s)
			}
		}
		sf.valueMatch = append(sf.valueMatch, m)
	}
	return sf, nil
}

// headerOf returns the header lookup of a record with header value v.
func (sf *subFilters) headerOf(v int) func(string) ([]byte, bool) {
	return func(name string) ([]byte, bool) {
		if sf.header == "" || name != sf.header || v >= len(sf.values) {
			return nil, false
		}
		return sf.values[v], true
	}
}

// match returns the subscriptions of a record with this key and header
// value index. The caller must not modify the slice.
func (sf *subFilters) match(key []byte, v int) []int {
	if !sf.byKey {
		return sf.byValue[v]
	}
	var out []int
	h := sf.headerOf(v)
	for s, f := range sf.filters {
		if f.Match(key, h) {
			out = append(out, s)
		}
	}
	return out
}

// excludes reports whether subscription s must not receive a record with
// header value v: known only for filters that do not read the key.
func (sf *subFilters) excludes(s, v int) bool {
	return sf.keyFree[s] && v >= 0 && v < len(sf.valueMatch[s]) && !sf.valueMatch[s][v]
}
