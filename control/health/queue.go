package health

import "sync"

// eventQueue hands events from checkers to one consumer goroutine without
// ever blocking a checker: a slow callback or webhook delays only the events
// behind it, never a check.
type eventQueue struct {
	mu     sync.Mutex
	items  []Event
	closed bool
	wake   chan struct{} // capacity 1: "items or closed changed"
	done   chan struct{} // closed when the consumer has returned
}

func newEventQueue() *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, e)
	}
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close lets the consumer drain what is queued, then return; it waits for that.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
	<-q.done
}

// routineConsume delivers events to handle one at a time, in push order.
func (q *eventQueue) routineConsume(handle func(Event)) {
	defer close(q.done)
	var batch []Event
	for {
		q.mu.Lock()
		batch, q.items = q.items, batch[:0]
		closed := q.closed
		q.mu.Unlock()
		for _, e := range batch {
			handle(e)
		}
		if len(batch) == 0 {
			if closed {
				return
			}
			<-q.wake
		}
	}
}
