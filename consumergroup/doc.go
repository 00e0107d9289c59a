// Package consumergroup holds consumer-group membership, generations,
// partition assignment and committed offsets (replicated through each
// partition's raft group), and the queue and topic views built on them.
//
// It is built by the consumer-groups issue; until then the package holds
// only this description, so that the layout fixed in the design brief
// exists.
package consumergroup
