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
	var dead []*peer
	for {
		select {
		case <-t.C:
		case <-s.closing:
			return
		}
		dead = dead[:0]
		s.mu.Lock()
		for _, p := range s.peers {
			if r := p.fr.reads.Load(); r != p.seenReads {
				p.seenReads, p.silentFor = r, 0
			} else {
				p.silentFor += s.opts.Heartbeat
			}
			if p.silentFor >= s.opts.HeartbeatTimeout {
				dead = append(dead, p)
				continue
			}
			p.enqueueCommand("PING", ping)
		}
		s.mu.Unlock()
		for _, p := range dead {
			s.log.Warn("peer timed out: no heartbeat", "remote", p.remote, "silent_for", p.silentFor.String())
			p.close(fmt.Errorf("msg: heartbeat: nothing from %s for %v", p.remote, s.opts.HeartbeatTimeout))
		}
	}
}
