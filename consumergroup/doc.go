// Package consumergroup holds consumer-group membership, generations,
// partition assignment and committed offsets (replicated through each
// partition's raft group), and the queue and topic views built on them.
//
// It is built by the consumer-groups issue. The assignment strategies are
// in place; membership, generations and offsets are still to come.
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
