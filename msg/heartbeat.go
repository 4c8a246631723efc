package msg

import (
	"encoding/binary"
	"fmt"
	"time"
)

// heartbeatLoop pings every peer each Options.Heartbeat and drops those
// that have sent nothing for Options.HeartbeatTimeout.
func (s *Socket) heartbeatLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	// PING body: TTL in deciseconds (the peer may drop us after it), then
	// an empty context.
	ping := binary.BigEndian.AppendUint16(nil, uint16(min(s.opts.HeartbeatTimeout/(100*time.Millisecond), 0xFFFF)))
	var dead []*conn
	for {
		select {
		case <-t.C:
		case <-s.closing:
			return
		}
		dead = dead[:0]
		s.mu.Lock()
		for _, p := range s.pipes {
			c := p.c
			if c == nil {
				continue
			}
			if r := c.fr.reads.Load(); r != c.seenReads {
				c.seenReads, c.silentFor = r, 0
			} else {
				c.silentFor += s.opts.Heartbeat
			}
			if c.silentFor >= s.opts.HeartbeatTimeout {
				dead = append(dead, c)
				continue
			}
			p.enqueueCommand("PING", ping)
		}
		s.mu.Unlock()
		for _, c := range dead {
			s.log.Warn("peer timed out: no heartbeat", "remote", c.remote, "silent_for", c.silentFor.String())
			c.close(fmt.Errorf("msg: heartbeat: nothing from %s for %v", c.remote, s.opts.HeartbeatTimeout))
		}
	}
}
