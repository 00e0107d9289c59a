// Package consumergroup holds consumer-group membership, generations and
// partition assignment; the committed offsets live in each partition's
// raft group (package partition), and the queue and topic views built on
// groups are to come.
//
// # Coordinator
//
// A Coordinator (coordinator.go, coordinator_admin.go) keeps the groups of
// the cluster while its node leads the metadata group: joins (with static
// instance ids), heartbeats (a long poll answered early when the member's
// assignment changes), leaves, session and rebalance timeouts (Tick),
// generations, and each member's target assignment, computed by the
// group's Assignor with the current targets as what the members own. It
// follows Kafka's KIP-848: a member is told its target minus the
// partitions another member may still hold (reported owning, or told it
// may consume), so a partition changes hands only after its owner released
// it, and members revoke exactly what moves. CheckCommit fences commits
// from unknown members, other generations and partitions not the
// member's.
//
// The GroupState (state.go: members, targets, generation, incarnation,
// strategy, the streams consumed) is replicated through a Store (the
// metadata group) at every change; heartbeat deadlines and owned
// partitions are memory. Activate loads the states (every member gets a
// full session timeout, and nothing moves until every member has reported
// what it owns); Deactivate wakes every waiting heartbeat with
// ErrNotCoordinator. Errors are *GroupError values matching the sentinels
// of errors.go.
//
// # Assignment
//
// An Assignor turns the members of a group (their ids, static instance
// ids, subscribed streams and currently owned partitions) and the partition
// count of every stream into an Assignment, member id -> partitions. The
// strategies are pure functions: no state, no goroutines, no I/O, safe for
// concurrent use. Each first validates its input and puts it in a
// canonical order (streams by name; members static first by instance id,
// then dynamic by member id), so the result never depends on the order of
// the caller's slices. A subscribed stream that does not exist is ignored,
// as Kafka ignores a missing topic; invalid input is a typed error (see
// errors.go), never a panic.
//
//   - Range (range.go) and RoundRobin (roundrobin.go) are Kafka's eager
//     strategies, output for output: every member revokes everything at a
//     rebalance, and Owned is ignored.
//   - CooperativeSticky (sticky.go, balance.go) balances the counts as
//     far as the subscriptions allow and keeps owned partitions where
//     balance permits; its doc comment lists the guarantees.
//
// A cooperative rebalance (KIP-429) takes two rounds (cooperative.go): in
// the first, members get the new assignment minus the partitions another
// member still owns (CooperativeFirstRound) and give up what they lose
// (Revoked); in the second, the assignor runs again and hands out the
// revoked partitions. Between the rounds no partition is held by two
// members, unless two already claimed it (a stale claim, which the member
// that does not get it revokes).
package consumergroup
