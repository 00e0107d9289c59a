package server

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedb/sluice/metadata"
)

// CreateQueue defines a queue over a stream. It must run on the metadata
// leader.
func (n *Node) CreateQueue(ctx context.Context, c metadata.CreateQueue) (*metadata.Queue, error) {
	c.Timestamp = time.Now().UnixMilli()
	cmd, err := metadata.EncodeCreateQueue(c)
	resp, err := n.propose(ctx, cmd, err)
	if err != nil {
		return nil, err
	}
	return queueResponse(resp)
}

// DeleteQueue removes a queue's definition (its state in the partitions
// is left to be dropped by a later incarnation's init; reads ignore it).
// It must run on the metadata leader.
func (n *Node) DeleteQueue(ctx context.Context, name string) error {
	cmd, err := metadata.EncodeDeleteQueue(metadata.DeleteQueue{Name: name})
	resp, err := n.propose(ctx, cmd, err)
	if err == nil {
		if rerr, ok := resp.(error); ok {
			err = rerr
		}
	}
	return err
}

func queueResponse(resp any) (*metadata.Queue, error) {
	switch r := resp.(type) {
	case *metadata.Queue:
		return r, nil
	case error:
		return nil, r
	}
	return nil, fmt.Errorf("server: metadata answered %T, want a queue", resp)
}
