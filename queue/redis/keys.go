package redis

import "strconv"

// Key names, as kombu 5.2's Redis transport spells them
// (kombu/transport/redis.py, Channel): a queue is one list per priority
// step, "<queue>" for step 0 and "<queue>\x06\x16<step>" for the others;
// unacknowledged messages live in the hash "unacked" (delivery tag →
// [message, exchange, routing key]) indexed by delivery time in the sorted
// set "unacked_index"; "unacked_mutex" serialises their restore; exchange
// bindings are sets "_kombu.binding.<exchange>" of
// "<routing key>\x06\x16<pattern>\x06\x16<queue>". Every key starts with
// the transport's key prefix (kombu's global_keyprefix).
//
// dsys adds keys of its own, which kombu never reads, under "_dsys.":
// the leases of the deliveries dsys consumers hold, delayed messages, and
// the consumers seen per queue.

// sep is kombu's separator in list names and binding entries.
const sep = "\x06\x16"

// prioritySteps is kombu's default priority_steps: a message of priority p
// (clamped to 0..9) goes to the list of the largest step ≤ p, and lists are
// consumed in step order, so on Redis 0 is the highest priority.
var prioritySteps = [...]int{0, 3, 6, 9}

// stepOf returns the index in prioritySteps of a message priority's list.
func stepOf(priority uint8) int {
	p := min(int(priority), 9)
	i := 0
	for j, s := range prioritySteps {
		if s <= p {
			i = j
		}
	}
	return i
}

// keys names the keys of one transport (one prefix).
type keys struct{ prefix string }

func (k keys) list(queue string, step int) string {
	if prioritySteps[step] == 0 {
		return k.prefix + queue
	}
	return k.prefix + queue + sep + strconv.Itoa(prioritySteps[step])
}

// lists returns a queue's lists in consumption order.
func (k keys) lists(queue string) []string {
	out := make([]string, len(prioritySteps))
	for i := range prioritySteps {
		out[i] = k.list(queue, i)
	}
	return out
}

func (k keys) binding(exchange string) string { return k.prefix + "_kombu.binding." + exchange }

// bindingEntry is the binding of a queue to the exchange of its own name
// with its own name as routing key, as Celery declares its queues.
func bindingEntry(queue string) string { return queue + sep + sep + queue }

func (k keys) unacked() string      { return k.prefix + "unacked" }
func (k keys) unackedIndex() string { return k.prefix + "unacked_index" }
func (k keys) unackedMutex() string { return k.prefix + "unacked_mutex" }

// leases holds the delivery tags dsys consumers hold, scored by when their
// lease runs out (ms); a consumer renews them while it holds them.
func (k keys) leases() string { return k.prefix + "_dsys.leases" }

// delayed holds the messages of one list that are not due yet, scored by
// their due time (ms).
func (k keys) delayed(queue string, step int) string {
	return k.prefix + "_dsys.delayed." + k.list(queue, step)[len(k.prefix):]
}

// consumers holds the ids of a queue's dsys consumers, scored by when they
// were last seen (ms).
func (k keys) consumers(queue string) string { return k.prefix + "_dsys.consumers." + queue }
