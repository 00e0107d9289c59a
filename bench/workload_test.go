package bench

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// minimal is the smallest valid workload.
const minimal = "messageSize: 100\ntestDurationMinutes: 1\n"

func TestParseWorkloadDefaults(t *testing.T) {
	w, err := ParseWorkload([]byte(minimal), "dir/small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Workload{
		Name: "small", Topics: 1, PartitionsPerTopic: 1, MessageSize: 100, KeyDistributor: NoKey,
		ProducersPerTopic: 1, ConsumerPerSubscription: 1, SubscriptionsPerTopic: 1, TestDurationMinutes: 1,
		Acks: "all", Compression: "none", MaxInFlight: 10000, Mode: "stream",
	}
	if !reflect.DeepEqual(*w, want) {
		t.Fatalf("got %+v\nwant %+v", *w, want)
	}
	if w.TestDuration() != time.Minute || w.Warmup() != 0 {
		t.Fatalf("TestDuration %v, Warmup %v", w.TestDuration(), w.Warmup())
	}
}

// ombSample is a workload file of the OpenMessaging Benchmark
// (workloads/1-topic-1-partition-100b.yaml).
const ombSample = `name: 1 topic / 1 partition / 100b

topics: 1
partitionsPerTopic: 1
messageSize: 100
payloadFile: "payload/payload-100b.data"
subscriptionsPerTopic: 1
consumerPerSubscription: 1
producersPerTopic: 1
producerRate: 50000
consumerBacklogSizeGB: 0
testDurationMinutes: 15
`

func TestParseWorkloadOMBSample(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "payload"), 0o755); err != nil {
		t.Fatal(err)
	}
	payload := []byte(strings.Repeat("x", 100))
	if err := os.WriteFile(filepath.Join(dir, "payload", "payload-100b.data"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "omb.yaml")
	if err := os.WriteFile(path, []byte(ombSample), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := LoadWorkload(path)
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "1 topic / 1 partition / 100b" || w.ProducerRate != 50000 || w.TestDuration() != 15*time.Minute {
		t.Fatalf("got %+v", *w)
	}
	if w.PayloadFile != filepath.Join(dir, "payload", "payload-100b.data") {
		t.Fatalf("payloadFile not resolved against the workload's directory: %s", w.PayloadFile)
	}
	got, err := w.PayloadBytes()
	if err != nil || string(got) != string(payload) {
		t.Fatalf("PayloadBytes = %q, %v", got, err)
	}
}

func TestParseWorkloadPayloadFileSetsMessageSize(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.data"), make([]byte, 300), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := ParseWorkload([]byte("messageSize: 100\npayloadFile: p.data\ntestDurationMinutes: 1\n"), filepath.Join(dir, "w.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if w.MessageSize != 300 {
		t.Fatalf("messageSize %d, want the file's 300", w.MessageSize)
	}
}

func TestParseWorkloadBadValues(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.data")
	if err := os.WriteFile(small, []byte("1234567"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		yaml  string
		field string
	}{
		{"topics: -1", "topics"},
		{"topics: 1001", "topics"},
		{"topics: many", "topics"},
		{"partitionsPerTopic: -2", "partitionsPerTopic"},
		{"partitionsPerTopic: 10001", "partitionsPerTopic"},
		{"messageSize: 7", "messageSize"},
		{"messageSize: 16777217", "messageSize"},
		{"payloadFile: missing.data", "payloadFile"},
		{"payloadFile: " + small, "payloadFile"},
		{"payloadFile: " + dir, "payloadFile"},
		{"keyDistributor: RANDOM", "keyDistributor"},
		{"producersPerTopic: -1", "producersPerTopic"},
		{"producersPerTopic: 1001", "producersPerTopic"},
		{"topics: 20\nproducersPerTopic: 1000", "producersPerTopic"},
		{"producerRate: -5", "producerRate"},
		{"producerRate: .nan", "producerRate"},
		{"producerRate: 1e10", "producerRate"},
		{"consumerPerSubscription: -1", "consumerPerSubscription"},
		{"consumerPerSubscription: 1001", "consumerPerSubscription"},
		{"subscriptionsPerTopic: 100\nconsumerPerSubscription: 101", "consumerPerSubscription"},
		{"subscriptionsPerTopic: -1", "subscriptionsPerTopic"},
		{"subscriptionsPerTopic: 1001", "subscriptionsPerTopic"},
		{"consumerBacklogSizeGB: -0.5", "consumerBacklogSizeGB"},
		{"consumerBacklogSizeGB: 2000", "consumerBacklogSizeGB"},
		{"testDurationMinutes: -1", "testDurationMinutes"},
		{"testDurationMinutes: 1441", "testDurationMinutes"},
		{"testDurationMinutes: 0", "testDurationMinutes"},
		{"testDurationMinutes: .inf", "testDurationMinutes"},
		{"warmupDurationMinutes: -1", "warmupDurationMinutes"},
		{"warmupDurationMinutes: 2000", "warmupDurationMinutes"},
		{"recordCount: -1", "recordCount"},
		{"recordCount: 1e13", "recordCount"},
		{"acks: some", "acks"},
		{"batchBytes: -1", "batchBytes"},
		{"batchBytes: 1e12", "batchBytes"},
		{"linger: 5", "linger"},
		{"linger: soon", "linger"},
		{"linger: -1ms", "linger"},
		{"linger: 2h", "linger"},
		{"linger: [1ms]", "linger"},
		{"compression: brotli", "compression"},
		{"maxInFlight: -1", "maxInFlight"},
		{"maxInFlight: 2000000", "maxInFlight"},
		{"mode: broadcast", "mode"},
		{"maxBacklog: -1", "maxBacklog"},
		{"maxBacklog: 1e13", "maxBacklog"},
		{"maxBacklog: 1000\nconsumerBacklogSizeGB: 1", "maxBacklog"},
		{"headerName: kind", "headerName"},
		{"headerName: kind\nheaderValues: []", "headerName"},
		{"headerValues: [a, b]", "headerValues"},
		{"headerName: [kind]\nheaderValues: [a]", "headerName"},
		{"headerName: kind\nheaderValues: a", "headerValues"},
		{"headerName: kind\nheaderValues: [[a]]", "headerValues"},
		{"headerName: Sluice-Delay-Ms\nheaderValues: ['5']", "headerName"},
		{"headerName: " + strings.Repeat("k", 256) + "\nheaderValues: [a]", "headerName"},
		{"headerName: kind\nheaderValues: [" + strings.Repeat("v", 1025) + "]", "headerValues"},
		{"headerName: kind\nheaderValues: [" + strings.Repeat("a,", 1001) + "]", "headerValues"},
		{`subscriptionFilters: ['{"headers.kind": ["a"]}']` + "\nsubscriptionsPerTopic: 2", "subscriptionFilters"},
		{"subscriptionsPerTopic: 3\nsubscriptionFilters: ['', '']", "subscriptionFilters"},
		{`subscriptionFilters: ['{"kind": ["a"]}']`, "subscriptionFilters"},
		{`subscriptionFilters: ['{"headers.kind": "a"}']`, "subscriptionFilters"},
		{`subscriptionFilters: ['{"headers.n": [{"numeric": ["~", 1]}]}']`, "subscriptionFilters"},
		{"subscriptionFilters: ['not json']", "subscriptionFilters"},
		{"subscriptionFilters: '{}'", "subscriptionFilters"},
		{"subscriptionFilters: [[a]]", "subscriptionFilters"},
		{"subscriptionFilters: [{key: {prefix: a}}]", "subscriptionFilters"},
		{"subscriptionFilters: [5]", "subscriptionFilters"},
		{"name: [a, b]", "name"},
		{"colour: blue", "colour"},
		{"topics: 1\ntopics: 2", "topics"},
	} {
		t.Run(tc.yaml, func(t *testing.T) {
			// tc.yaml's fields come last so that they override minimal's.
			doc := "messageSize: 100\ntestDurationMinutes: 1\n" + tc.yaml + "\n"
			if strings.HasPrefix(tc.yaml, "testDurationMinutes") || strings.HasPrefix(tc.yaml, "messageSize") {
				doc = tc.yaml + "\n"
				if strings.HasPrefix(tc.yaml, "testDuration") {
					doc += "messageSize: 100\n"
				} else {
					doc += "testDurationMinutes: 1\n"
				}
			}
			_, err := ParseWorkload([]byte(doc), filepath.Join(dir, "w.yaml"))
			var we *WorkloadError
			if !errors.As(err, &we) {
				t.Fatalf("got %v, want a *WorkloadError", err)
			}
			if we.Field != tc.field {
				t.Fatalf("field %q, want %q (error %v)", we.Field, tc.field, err)
			}
			if !errors.Is(err, ErrInvalidWorkload) {
				t.Fatalf("%v does not match ErrInvalidWorkload", err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.field) || !strings.HasPrefix(msg, filepath.Join(dir, "w.yaml")) {
				t.Fatalf("message %q: want one line naming the source and the field", msg)
			}
			if we.Line == 0 {
				t.Fatalf("no line in %v", err)
			}
			t.Log(err)
		})
	}
}

func TestParseWorkloadFilters(t *testing.T) {
	doc := minimal + `mode: queue
headerName: kind
headerValues: [a, b, "7"]
subscriptionFilters:
  - '{"headers.kind": ["a"]}'
  - {headers.kind: [a, b]}
  - {headers.kind: [{numeric: [">=", 7]}], key: [{exists: false}]}
  -
  - ""
`
	w, err := ParseWorkload([]byte(doc), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := FilterList{
		`{"headers.kind": ["a"]}`,
		`{"headers.kind":["a","b"]}`,
		`{"headers.kind":[{"numeric":[">=",7]}],"key":[{"exists":false}]}`,
		"", "",
	}
	if !reflect.DeepEqual(w.SubscriptionFilters, want) {
		t.Fatalf("filters %q\nwant %q", w.SubscriptionFilters, want)
	}
	if w.SubscriptionsPerTopic != 5 || w.HeaderName != "kind" || len(w.HeaderValues) != 3 {
		t.Fatalf("subscriptions %d, header %q %q", w.SubscriptionsPerTopic, w.HeaderName, w.HeaderValues)
	}
	sf, err := newSubFilters(w)
	if err != nil {
		t.Fatal(err)
	}
	// Each header value index: the subscriptions that take a record
	// with it (and no key).
	for v, subs := range [][]int{{0, 1, 3, 4}, {1, 3, 4}, {2, 3, 4}} {
		if got := sf.match(nil, v); !reflect.DeepEqual(got, subs) {
			t.Errorf("value %d: subscriptions %v, want %v", v, got, subs)
		}
	}
	if got := sf.match([]byte("k"), 2); !reflect.DeepEqual(got, []int{3, 4}) {
		t.Errorf("keyed record of value 2: subscriptions %v, want [3 4]", got)
	}
	if !sf.excludes(0, 1) || sf.excludes(0, 0) || sf.excludes(2, 0) || sf.excludes(3, 1) {
		t.Error("excludes: want only the key-free filters' verdicts")
	}
	// Round trips keep the filters.
	j, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var back Workload
	if err := json.Unmarshal(j, &back); err != nil || !reflect.DeepEqual(back, *w) {
		t.Fatalf("JSON round trip: %+v, %v", back, err)
	}
	y, err := yaml.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := ParseWorkload(y, "f.yaml"); err != nil || !reflect.DeepEqual(*again, *w) {
		t.Fatalf("YAML round trip of\n%s: %+v, %v", y, again, err)
	}
}

func TestParseWorkloadDocumentErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		wrapsYAML  bool
	}{
		{"syntax", "topics: [1,\n", true},
		{"tab indent", "topics:\n\t- 1\n", true},
		{"two documents", minimal + "---\n" + minimal, false},
		{"sequence", "- topics: 1\n", false},
		{"empty", "", false},
		{"null", "~\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWorkload([]byte(tc.yaml), "x.yaml")
			var we *WorkloadError
			if !errors.As(err, &we) {
				t.Fatalf("got %v, want a *WorkloadError", err)
			}
			if !strings.HasPrefix(err.Error(), "x.yaml") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("message %q: want one line starting with the source", err)
			}
			if tc.wrapsYAML && we.Err == nil {
				t.Fatalf("%v does not wrap the YAML error", err)
			}
		})
	}
}

func TestLoadWorkloadMissingFile(t *testing.T) {
	_, err := LoadWorkload(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want fs.ErrNotExist", err)
	}
}

func TestDurationMarshalling(t *testing.T) {
	w, err := ParseWorkload([]byte(minimal+"linger: 5ms\n"), "w.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(w.Linger) != 5*time.Millisecond {
		t.Fatalf("linger %v", w.Linger)
	}
	j, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(j), `"linger":"5ms"`) {
		t.Fatalf("JSON %s lacks linger 5ms", j)
	}
	var back Workload
	if err := json.Unmarshal(j, &back); err != nil || !reflect.DeepEqual(back, *w) {
		t.Fatalf("JSON round trip: %+v, %v", back, err)
	}
	y, err := yaml.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseWorkload(y, "w.yaml")
	if err != nil || !reflect.DeepEqual(*again, *w) {
		t.Fatalf("YAML round trip of\n%s: %+v, %v", y, again, err)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`1000000`), &d); err != nil || d != Duration(time.Millisecond) {
		t.Fatalf("nanoseconds: %v, %v", d, err)
	}
	for _, bad := range []string{`"soon"`, `true`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Fatalf("%s: no error", bad)
		}
	}
}

func TestPayloadBytesRandom(t *testing.T) {
	w := Workload{MessageSize: 64}
	a, err := w.PayloadBytes()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := w.PayloadBytes()
	if len(a) != 64 || string(a) == string(b) {
		t.Fatalf("want 64 fresh random bytes each time, got %x and %x", a, b)
	}
	if _, err := (&Workload{MessageSize: 4}).PayloadBytes(); !errors.Is(err, ErrInvalidWorkload) {
		t.Fatalf("4-byte messages: got %v", err)
	}
	if _, err := (&Workload{PayloadFile: filepath.Join(t.TempDir(), "none")}).PayloadBytes(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing payload file: got %v", err)
	}
}

func TestShippedWorkloads(t *testing.T) {
	paths, err := filepath.Glob("workloads/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]*Workload)
	for _, p := range paths {
		w, err := LoadWorkload(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(p), ".yaml"); w.Name != want {
			t.Errorf("%s: name %q, want %q", p, w.Name, want)
		}
		if w.TestDuration() > 5*time.Minute {
			t.Errorf("%s: %v is long for a laptop", p, w.TestDuration())
		}
		got[w.Name] = w
	}
	for name, check := range map[string]func(*Workload) bool{
		"max-throughput-100b": func(w *Workload) bool {
			return w.ProducerRate == 0 && w.MessageSize == 100 && w.PartitionsPerTopic == 6
		},
		"max-throughput-1kb": func(w *Workload) bool {
			return w.ProducerRate == 0 && w.MessageSize == 1024 && w.PartitionsPerTopic == 6
		},
		"fixed-rate-latency": func(w *Workload) bool { return w.ProducerRate > 0 },
		"keyed":              func(w *Workload) bool { return w.KeyDistributor == KeyRoundRobin },
		"fan-out":            func(w *Workload) bool { return w.SubscriptionsPerTopic == 4 },
		"backlog-drain":      func(w *Workload) bool { return w.ConsumerBacklogSizeGB > 0 },
		"queue-ack":          func(w *Workload) bool { return w.Mode == "queue" },
		"queue-8-consumers": func(w *Workload) bool {
			return w.Mode == "queue" && w.ProducerRate == 0 && w.MessageSize == 100 && w.PartitionsPerTopic == 8 &&
				w.SubscriptionsPerTopic == 1 && w.ConsumerPerSubscription == 8
		},
		"topic-4-filtered": func(w *Workload) bool {
			return w.Mode == "queue" && w.SubscriptionsPerTopic == 4 && len(w.SubscriptionFilters) == 4 && w.HeaderName != ""
		},
	} {
		if w, ok := got[name]; !ok {
			t.Errorf("workloads/%s.yaml missing", name)
		} else if !check(w) {
			t.Errorf("workloads/%s.yaml: %+v is not what its name says", name, *w)
		}
	}
}
