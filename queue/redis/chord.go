package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/queue/broker"
	"github.com/dsys-dev/dsys/queue/celery"
)

// Chords count their parts as Celery's Redis backend does
// (RedisBackend.on_chord_part_return, with result_chord_ordered): each
// part's [1, task id, state, result] is added to the sorted set
// celery-taskset-meta-<group>.j scored by its group_index; the chord is
// complete when the set holds as many parts as the size the client stored
// at celery-taskset-meta-<group>.s plus the adjustments in .t. Celery
// workers and dsys workers count in the same keys, so a chord's header can
// run on either or both.

var _ broker.ChordCounter = (*Results)(nil)

// chordPartScript adds a part and reports completion with every part.
//
// KEYS: .j, .t, .s. ARGV: member, score, expiry in seconds (0: none).
// Returns {0} or {1, member, member, ...} in group order.
var chordPartScript = goredis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ready = redis.call('ZCOUNT', KEYS[1], '-inf', '+inf')
local diff = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local size = redis.call('GET', KEYS[3])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
if not size then return {0} end
if ready ~= (tonumber(size) or -1) + diff then return {0} end
local out = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(out, 1, 1)
return out
`)

func groupKey(id, suffix string) string { return "celery-taskset-meta-" + id + suffix }

// ChordPart implements broker.ChordCounter.
func (r *Results) ChordPart(ctx context.Context, p broker.ChordPart) ([]broker.ChordPart, bool, error) {
	if err := r.c.ready(ctx); err != nil {
		return nil, false, err
	}
	member, err := chordMember(p)
	if err != nil {
		return nil, false, err
	}
	score := "+inf"
	if p.Index != nil {
		score = strconv.Itoa(*p.Index)
	}
	res, err := chordPartScript.Run(ctx, r.c.rdb,
		[]string{groupKey(p.GroupID, ".j"), groupKey(p.GroupID, ".t"), groupKey(p.GroupID, ".s")},
		member, score, r.c.resultTTL()).Slice()
	if err != nil {
		r.c.failed(err)
		return nil, false, fmt.Errorf("queue: chord %s: %w", p.GroupID, err)
	}
	if len(res) == 0 || res[0] != int64(1) {
		return nil, false, nil
	}
	parts := make([]broker.ChordPart, 0, len(res)-1)
	for _, m := range res[1:] {
		s, _ := m.(string)
		part, err := decodeChordMember(p.GroupID, s)
		if err != nil {
			return nil, false, fmt.Errorf("queue: chord %s: %w", p.GroupID, err)
		}
		parts = append(parts, part)
	}
	return parts, true, nil
}

// ChordDone implements broker.ChordCounter: the chord's keys go, as
// Celery's worker deletes them once the callback is sent.
func (r *Results) ChordDone(ctx context.Context, groupID string) error {
	err := r.c.rdb.Del(ctx, groupKey(groupID, ".j"), groupKey(groupID, ".t"), groupKey(groupID, ".s")).Err()
	if err != nil {
		r.c.failed(err)
		return fmt.Errorf("queue: chord %s: %w", groupID, err)
	}
	return nil
}

// chordMember encodes a part as Celery does: json.dumps([1, tid, state, result]).
func chordMember(p broker.ChordPart) (string, error) {
	b := append([]byte(nil), "[1, "...)
	b, _ = celery.AppendJSON(b, p.TaskID)
	b = append(b, ", "...)
	b, _ = celery.AppendJSON(b, p.State)
	b = append(b, ", "...)
	if len(p.Result) == 0 {
		b = append(b, "null"...)
	} else {
		if !json.Valid(p.Result) {
			return "", fmt.Errorf("queue: chord part %s: result is not JSON", p.TaskID)
		}
		b = append(b, p.Result...)
	}
	return string(append(b, ']')), nil
}

func decodeChordMember(group, s string) (broker.ChordPart, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal([]byte(s), &parts); err != nil || len(parts) != 4 {
		return broker.ChordPart{}, fmt.Errorf("unreadable part %q", s)
	}
	p := broker.ChordPart{GroupID: group, Result: parts[3]}
	if json.Unmarshal(parts[1], &p.TaskID) != nil || json.Unmarshal(parts[2], &p.State) != nil {
		return broker.ChordPart{}, fmt.Errorf("unreadable part %q", s)
	}
	return p, nil
}
