package natsdriver

import "errors"

// The driver's errors. Server and client errors from nats.go are wrapped
// with %w, so errors.Is also matches nats.go's sentinels (such as
// jetstream.ErrStreamNotFound).
var (
	// ErrNoTopic: no partition stream of the topic exists.
	ErrNoTopic = errors.New("natsdriver: no such topic")
	// ErrNoSubscription: the topic has no such subscription (CreateTopic
	// creates them).
	ErrNoSubscription = errors.New("natsdriver: no such subscription")
	// ErrBadName: a topic or subscription name JetStream cannot use in a
	// stream, subject or consumer name.
	ErrBadName = errors.New("natsdriver: bad name")
	// ErrClosed: the producer, consumer or driver was closed.
	ErrClosed = errors.New("natsdriver: closed")
)
