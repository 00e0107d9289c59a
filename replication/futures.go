package replication

import "reflect"

// hashicorp/raft does not answer every future it hands out when it shuts
// down: entries committed and queued for the state machine are dropped
// (runFSM returns without draining its queue), and so can be a leadership
// transfer or another request in flight. A caller blocked in Error() would
// wait forever, and so would Stop, which waits for those callers.
//
// raft's futures have an exported ShutdownCh field that makes Error()
// return ErrRaftShutdown when the channel closes; raft sets it only on some
// internal futures. bindShutdown sets it on every future the group waits
// on (proposals, barriers, leadership transfers, membership changes,
// snapshots, configuration reads) to the group's stop channel, so Stop
// releases every waiter. TestFuturesBindShutdown checks that the pinned
// raft version still has the field.

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
