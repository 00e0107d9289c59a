package rpc

import (
	"fmt"

	"github.com/sluicedb/sluice/api/sluicev1"
	"github.com/sluicedb/sluice/consumergroup"
	"github.com/sluicedb/sluice/metadata"
	"github.com/sluicedb/sluice/partition"
)

// The checks of group request fields, made on the node that takes the
// request (before it forwards anything to the coordinator). The
// coordinator checks what depends on the group.

// checkGroup refuses a group name no group can have.
func checkGroup(name string) error {
	if err := consumergroup.ValidGroupName(name); err != nil {
		return fmt.Errorf("%w: group: %w", ErrInvalidArgument, err)
	}
	return nil
}

// checkMember refuses a member id no member can have (joining gives one).
func checkMember(id string) error {
	if id == "" || len(id) > consumergroup.MaxMemberIDLen {
		return fmt.Errorf("%w: member_id of %d bytes (1 to %d, as JoinGroup answered)", ErrInvalidArgument, len(id), consumergroup.MaxMemberIDLen)
	}
	return nil
}

// checkMembership checks the group, member id and generation of a member's
// request.
func checkMembership(group, member string, generation int32) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	if err := checkMember(member); err != nil {
		return err
	}
	if generation < 0 {
		return fmt.Errorf("%w: generation %d (0 or more, as the coordinator answered)", ErrInvalidArgument, generation)
	}
	return nil
}

// checkPartitions refuses a list of partitions (request field field) that
// names a stream no stream can have or a negative partition, or more than
// most partitions in all.
func checkPartitions(field string, sps []*sluicev1.StreamPartitions, most int) error {
	n := 0
	for i, sp := range sps {
		if err := metadata.ValidStreamName(fmt.Sprintf("%s[%d].stream", field, i), sp.GetStream()); err != nil {
			return err
		}
		for _, p := range sp.GetPartitions() {
			if p < 0 {
				return fmt.Errorf("%w: %s[%d].partitions: partition %d of stream %q (0 or more)", ErrInvalidArgument, field, i, p, sp.GetStream())
			}
		}
		if n += len(sp.GetPartitions()); n > most {
			return fmt.Errorf("%w: %s: more than %d partitions", ErrInvalidArgument, field, most)
		}
	}
	return nil
}

// checkJoin checks a join's fields; the coordinator checks their ranges
// (consumergroup.JoinRequest) and the strategy.
func checkJoin(req *sluicev1.JoinGroupRequest) error {
	if err := checkGroup(req.GetGroup()); err != nil {
		return err
	}
	if ms := req.GetSessionTimeoutMs(); ms < 0 {
		return fmt.Errorf("%w: session_timeout_ms %d (0 for the default, or %d to %d)", ErrInvalidArgument, ms,
			consumergroup.MinSessionTimeoutMs, consumergroup.MaxSessionTimeoutMs)
	}
	if ms := req.GetRebalanceTimeoutMs(); ms < 0 {
		return fmt.Errorf("%w: rebalance_timeout_ms %d (0 for the default, or up to %d)", ErrInvalidArgument, ms,
			consumergroup.MaxRebalanceTimeoutMs)
	}
	for i, name := range req.GetStreams() {
		if err := metadata.ValidStreamName(fmt.Sprintf("streams[%d]", i), name); err != nil {
			return err
		}
	}
	return nil
}

// checkCommit checks a commit's fields: the member, and 1 to
// maxCommitEntries offsets, each of a partition that can exist, once, 0 or
// more, with metadata within the limit. A commit with a bad entry commits
// none.
func checkCommit(req *sluicev1.CommitOffsetsRequest) error {
	if err := checkMembership(req.GetGroup(), req.GetMemberId(), req.GetGeneration()); err != nil {
		return err
	}
	entries := req.GetOffsets()
	if len(entries) == 0 || len(entries) > maxCommitEntries {
		return fmt.Errorf("%w: %d offsets in one commit (1..%d)", ErrInvalidArgument, len(entries), maxCommitEntries)
	}
	seen := make(map[consumergroup.TopicPartition]bool, len(entries))
	for i, e := range entries {
		if err := metadata.ValidStreamName(fmt.Sprintf("offsets[%d].stream", i), e.GetStream()); err != nil {
			return err
		}
		switch {
		case e.GetPartition() < 0:
			return fmt.Errorf("%w: offsets[%d].partition %d (0 or more)", ErrInvalidArgument, i, e.GetPartition())
		case e.GetOffset() < 0:
			return fmt.Errorf("%w: offsets[%d].offset %d (0 or more)", ErrInvalidArgument, i, e.GetOffset())
		case len(e.GetMetadata()) > partition.MaxOffsetMetadataBytes:
			return fmt.Errorf("%w: offsets[%d].metadata of %d bytes (at most %d)", ErrInvalidArgument, i,
				len(e.GetMetadata()), partition.MaxOffsetMetadataBytes)
		}
		tp := consumergroup.TopicPartition{Stream: e.GetStream(), Partition: e.GetPartition()}
		if seen[tp] {
			return fmt.Errorf("%w: offsets: %s/%d twice in one commit", ErrInvalidArgument, e.GetStream(), e.GetPartition())
		}
		seen[tp] = true
	}
	return nil
}
