package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/sluicedb/sluice/client"
)

// Example creates a stream, produces to it and reads it back. It needs a
// running cluster (sluice dev), so it has no checked output.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Config{Servers: []string{"localhost:7001", "localhost:7002"}})
	if err != nil {
		log.Fatal(err) // for example: sluice: cluster unreachable: no answer from ...
	}
	defer c.Close()

	_, err = c.CreateStream(ctx, client.StreamConfig{Name: "orders", Partitions: 4, Retention: 24 * time.Hour})
	if err != nil && !errors.Is(err, client.ErrStreamExists) {
		log.Fatal(err)
	}

	p, err := c.NewProducer(client.ProducerConfig{Compression: client.CompressionZstd})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 10 {
		rec := client.NewRecord("orders", []byte(fmt.Sprint("customer-", i%3)), []byte(fmt.Sprint("order ", i)))
		p.Produce(ctx, rec, func(r client.RecordResult, err error) {
			if err != nil {
				log.Print(err)
				return
			}
			fmt.Printf("written at partition %d offset %d\n", r.Partition, r.Offset)
		})
	}
	if err := p.Close(ctx); err != nil { // flushes
		log.Fatal(err)
	}

	k, err := c.NewConsumer(client.ConsumerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close()
	if err := k.Assign(ctx, "orders", nil, client.Earliest()); err != nil {
		log.Fatal(err)
	}
	recs, err := k.Poll(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Printf("%d/%d %s=%s\n", r.Partition, r.Offset, r.Key, r.Value)
	}
}
