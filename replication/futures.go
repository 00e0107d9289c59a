package replication

import "reflect"

// hashicorp/raft answers every future it owns, except one case: entries
// that are committed and queued for the state machine when raft shuts down.
// runFSM returns on shutdown without draining its queue, and the futures of
// those entries (proposals and barriers) are never answered, so a caller
// blocked in Error() would wait forever.
//
// raft's futures have an exported ShutdownCh field that makes Error()
// return ErrRaftShutdown when the channel closes; raft sets it only on some
// internal futures. bindShutdown sets it on ours, to the group's stop
// channel, so that Stop releases every waiter. TestFuturesBindShutdown
// checks that the pinned raft version still has the field.

var chanStructType = reflect.TypeOf((chan struct{})(nil))

// bindShutdown points f's ShutdownCh at stop and reports whether f has
// one. Futures without the field (raft's errorFuture, answered at once)
// need none. It must run before anything calls f.Error().
func bindShutdown(f any, stop chan struct{}) bool {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	fld := v.Elem().FieldByName("ShutdownCh")
	if !fld.IsValid() || !fld.CanSet() || fld.Type() != chanStructType || !fld.IsNil() {
		return false
	}
	fld.Set(reflect.ValueOf(stop))
	return true
}
