package metadata

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidationError(t *testing.T) {
	err := fmt.Errorf("create: %w", invalid("partitions", "%d is not in 1..%d", 0, MaxPartitions))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "partitions" || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("%v does not carry its field", err)
	}
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrStreamExists) {
		t.Fatal("a validation error matches another sentinel")
	}
	if got := ve.Error(); got != "metadata: invalid partitions: 0 is not in 1..10000" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestErrorsArePrefixed(t *testing.T) {
	for _, err := range []error{ErrInvalidArgument, ErrStreamExists, ErrStreamNotFound, ErrNotEnoughNodes,
		ErrNodeNotFound, ErrNodeRemoved, ErrProducerIDsExhausted, ErrCorrupt, corrupt("x %d", 1),
		ErrNodeNotActive, ErrPartitionNotFound, ErrReplicasChanged, ErrGroupExists, ErrUnknownGroup,
		ErrGroupVersionConflict, &GroupVersionConflictError{Group: "g"}, ErrQueueExists, ErrQueueNotFound,
		ErrStreamInUse, &StreamInUseError{Stream: "s", Queues: []string{"q"}}} {
		if !strings.HasPrefix(err.Error(), "metadata: ") {
			t.Errorf("%q lacks the package prefix", err)
		}
	}
	if !errors.Is(corrupt("x"), ErrCorrupt) {
		t.Fatal("corrupt does not wrap ErrCorrupt")
	}
}
