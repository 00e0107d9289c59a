package checker

import (
	"fmt"
	"time"
)

// Defaults of Config.
const (
	DefaultLinPartitions = 4
	DefaultLinTimeout    = 10 * time.Second
	DefaultLinMaxOps     = 10_000
	DefaultExamples      = 10
)

// AllPartitions as Config.LinPartitions checks every partition.
const AllPartitions = -1

// Config tunes Check. The zero value is ready: every zero field takes its
// default.
type Config struct {
	// LinPartitions is how many partitions the linearizability check
	// samples (DefaultLinPartitions if 0; AllPartitions for every one).
	LinPartitions int
	// LinDisabled turns the linearizability check off.
	LinDisabled bool
	// LinTimeout bounds porcupine's search of one partition
	// (DefaultLinTimeout if 0). A search that runs out is reported as
	// "timeout", not as a violation.
	LinTimeout time.Duration
	// LinMaxOps bounds the ops of one partition given to porcupine
	// (DefaultLinMaxOps if 0), whose memory grows with the square of the
	// ops: past it, the check takes the earliest ops and the appends they
	// depend on.
	LinMaxOps int
	// Seed picks the sampled partitions.
	Seed int64
	// Examples bounds the offsets and ops a violation lists
	// (DefaultExamples if 0).
	Examples int
}

// Validate reports a field out of range, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.LinPartitions < AllPartitions:
		return fmt.Errorf("%w: LinPartitions %d", ErrInvalidConfig, c.LinPartitions)
	case c.LinTimeout < 0:
		return fmt.Errorf("%w: negative LinTimeout", ErrInvalidConfig)
	case c.LinMaxOps < 0:
		return fmt.Errorf("%w: negative LinMaxOps", ErrInvalidConfig)
	case c.Examples < 0:
		return fmt.Errorf("%w: negative Examples", ErrInvalidConfig)
	}
	return nil
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	if c.LinPartitions == 0 {
		c.LinPartitions = DefaultLinPartitions
	}
	if c.LinTimeout == 0 {
		c.LinTimeout = DefaultLinTimeout
	}
	if c.LinMaxOps == 0 {
		c.LinMaxOps = DefaultLinMaxOps
	}
	if c.Examples == 0 {
		c.Examples = DefaultExamples
	}
	return c, nil
}
