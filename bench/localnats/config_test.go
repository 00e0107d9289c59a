package localnats

import (
	"testing"
)

func TestRenderConfig(t *testing.T) {
	all := []ports{{4001, 5001, 6001}, {4002, 5002, 6002}}
	got := renderConfig(Config{Dir: "/data", SyncAlways: true}, all, 1)
	want := `# Written by localnats for sluice-bench; regenerated on every start.
server_name: "nats-1"
listen: "127.0.0.1:4002"
http: "127.0.0.1:6002"
cluster {
  name: "sluice-bench"
  listen: "127.0.0.1:5002"
  routes: [
    "nats-route://127.0.0.1:5001"
    "nats-route://127.0.0.1:5002"
  ]
}
jetstream {
  store_dir: "/data/nats-1"
  sync_interval: always
}
`
	if got != want {
		t.Errorf("config:\n%s\nwant:\n%s", got, want)
	}
}

func TestPickPorts(t *testing.T) {
	ps, err := pickPorts(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ps {
		for _, port := range []int{p.client, p.cluster, p.http} {
			if port == 0 || seen[port] {
				t.Fatalf("port %d zero or handed out twice: %v", port, ps)
			}
			seen[port] = true
		}
	}
}
