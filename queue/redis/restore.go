package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
)

// Restoring is how a message whose consumer died gets back to its queue,
// as kombu's QoS.restore_visible does: under the unacked mutex, every
// unacknowledged delivery older than the visibility timeout is pushed back
// to the consumption end of its queue, marked redelivered. dsys counts the
// start (the envelope's started count) and goes by its own leases for the
// deliveries its consumers hold (renewed while they run), and by kombu's
// delivery time with ForeignVisibilityTimeout for the others.

// unackedMutexExpire is how long a restore round holds kombu's unacked
// mutex at most: the round's own deadline (writeTimeout) and a margin.
// kombu's unacked_mutex_expire is 5 minutes, but then a worker killed in
// the middle of a round (SIGKILL, OOM) holds up every other worker's
// restores, and so the killed workers' tasks, for that long.
const unackedMutexExpire = writeTimeout + 5*time.Second

// maxRestore bounds the deliveries one restore round takes back.
const maxRestore = 1000

// unackedEntry is the value of the unacked hash: [message, exchange,
// routing key] (kombu: dumps([message._raw, EX, RK])).
type unackedEntry struct {
	raw        json.RawMessage
	exchange   string
	routingKey string
}

func decodeUnacked(b []byte) (*unackedEntry, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) != 3 {
		return nil, fmt.Errorf("%w: unacked entry", errEnvelope)
	}
	e := &unackedEntry{raw: parts[0]}
	if json.Unmarshal(parts[1], &e.exchange) != nil || json.Unmarshal(parts[2], &e.routingKey) != nil {
		return nil, fmt.Errorf("%w: unacked entry", errEnvelope)
	}
	return e, nil
}

// queue is the queue of an entry published to the anonymous exchange (all
// of Celery's and dsys's task messages); others are looked up (lookup).
func (e *unackedEntry) queue() string {
	if e.exchange == "" {
		return e.routingKey
	}
	return ""
}

// restoreInterval is how often a transport with consumers looks for
// deliveries to restore.
func (t *Transport) restoreInterval() time.Duration {
	return min(max(t.opts.VisibilityTimeout/4, 250*time.Millisecond), 10*time.Second)
}

// restoreLoop restores expired deliveries while the transport is open.
func (t *Transport) restoreLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(t.restoreInterval())
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-t.done:
			return
		}
		if n, err := t.restoreExpired(context.Background()); err != nil {
			t.failed(err)
			if !connErr(err) {
				t.log.Warn("queue: restoring expired deliveries failed", "err", err)
			}
		} else if n > 0 {
			t.log.Warn("queue: restored deliveries whose consumer stopped renewing them", "count", n)
		}
	}
}

// restoreExpired takes back the deliveries whose lease (dsys) or
// ForeignVisibilityTimeout (others) ran out, unless another process holds
// the unacked mutex. It returns how many went back.
func (t *Transport) restoreExpired(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	token := uuid.NewString()
	ok, err := t.rdb.SetNX(ctx, t.k.unackedMutex(), token, unackedMutexExpire).Result()
	if err != nil || !ok {
		return 0, err
	}
	defer unlockScript.Run(context.Background(), t.rdb, []string{t.k.unackedMutex()}, token)
	now := time.Now()
	ours, err := t.rdb.ZRangeByScore(ctx, t.k.leases(), &goredis.ZRangeBy{Min: "-inf",
		Max: strconv.FormatInt(now.UnixMilli(), 10), Count: maxRestore}).Result()
	if err != nil {
		return 0, err
	}
	old := now.Add(-t.opts.ForeignVisibilityTimeout)
	theirs, err := t.rdb.ZRangeByScore(ctx, t.k.unackedIndex(), &goredis.ZRangeBy{Min: "-inf",
		Max: strconv.FormatFloat(float64(old.UnixMicro())/1e6, 'f', 6, 64), Count: maxRestore}).Result()
	if err != nil {
		return 0, err
	}
	if len(theirs) > 0 {
		// Skip the deliveries a live dsys consumer holds (leased).
		scores, err := t.rdb.ZMScore(ctx, t.k.leases(), theirs...).Result()
		if err != nil {
			return 0, err
		}
		kept := theirs[:0]
		for i, tag := range theirs {
			if scores[i] == 0 {
				kept = append(kept, tag)
			}
		}
		theirs = kept
	}
	n := 0
	for _, tag := range append(ours, theirs...) {
		ok, err := t.restoreTag(ctx, tag)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// restoreTag pushes one unacknowledged delivery back to its queue, its
// started count one up.
func (t *Transport) restoreTag(ctx context.Context, tag string) (bool, error) {
	v, err := t.rdb.HGet(ctx, t.k.unacked(), tag).Bytes()
	if err == goredis.Nil {
		// Gone from the hash (acknowledged) but left in an index: tidy up.
		return false, t.rdb.ZRem(ctx, t.k.leases(), tag).Err()
	}
	if err != nil {
		return false, err
	}
	e, err := decodeUnacked(v)
	if err != nil {
		t.log.Error("queue: dropping an unreadable unacked entry", "tag", tag, "err", err)
		return false, t.rdb.HDel(ctx, t.k.unacked(), tag).Err()
	}
	queue := e.queue()
	if queue == "" {
		if queue, err = t.lookup(ctx, e.exchange, e.routingKey); err != nil {
			return false, err
		}
	}
	raw, step := []byte(e.raw), 0
	var s string
	if json.Unmarshal(e.raw, &s) == nil {
		raw = []byte(s) // a message that was not a JSON envelope, kept as a string
	} else if d, err := decodeEnvelope(e.raw); err == nil {
		step = stepOf(d.msg.Priority)
		if back, err := restored(e.raw, d.started+1); err == nil {
			raw = back
		}
	}
	res, err := putBackScript.Run(ctx, t.rdb, []string{t.k.unacked(), t.k.unackedIndex(), t.k.leases(),
		t.k.list(queue, step), t.k.delayed(queue, step)}, tag, raw, "rpush", 0).Int()
	return res == 1, err
}

// lookup finds the queue an exchange routes a routing key to, from kombu's
// binding set (direct routing; the routing key itself when nothing is bound).
func (t *Transport) lookup(ctx context.Context, exchange, routingKey string) (string, error) {
	members, err := t.rdb.SMembers(ctx, t.k.binding(exchange)).Result()
	if err != nil {
		return "", err
	}
	for _, m := range members {
		parts := strings.Split(m, sep)
		if len(parts) == 3 && parts[0] == routingKey {
			return parts[2], nil
		}
	}
	return routingKey, nil
}
