package netproxy_test

import (
	"fmt"
	"log"

	"github.com/sluicedb/sluice/internal/chaos/netproxy"
)

// A three-node cluster whose nodes dial each other through the mesh: node
// n1 is given Addrs("n1") as its peers' raft and client addresses.
func ExampleMesh() {
	m, err := netproxy.StartMesh(netproxy.MeshConfig{
		Targets: map[string]map[string]string{
			"n1": {"raft": "127.0.0.1:7001", "client": "127.0.0.1:9001"},
			"n2": {"raft": "127.0.0.1:7002", "client": "127.0.0.1:9002"},
			"n3": {"raft": "127.0.0.1:7003", "client": "127.0.0.1:9003"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	peers, err := m.Addrs("n1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("n1 dials n2's raft port at", peers["n2"]["raft"])

	// ... start the nodes, drive a workload ...

	if err := m.Isolate("n1"); err != nil { // n1's connections are reset
		log.Fatal(err)
	}
	fmt.Println(m) // n1->n2: partitioned; n1->n3: partitioned; n2->n1: ...
	if err := m.HealAll(); err != nil {
		log.Fatal(err)
	}
}
