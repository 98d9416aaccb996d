//! The event queue of the discrete-event world: events at exact instants, taken in (time,
//! sequence) order, with timers that can be cancelled.
//!
//! - **Time** is [`SimTime`], nanoseconds since the start in a `u64` (about 584 years), so
//!   every service time, timeout, back-off and link delay the models draw as a `Duration` is
//!   carried exactly, with no tick: the engine's type already has the resolution, and one time
//!   type means the sidecar core and the models need no conversion between the backends.
//! - **Order** is the instant, then the order of scheduling: two events at the same instant
//!   happen in the order they were scheduled (a sequence number, never a pointer or hash), so
//!   a run is a pure function of its inputs.
//! - **Cancellation** by generation: a [`TimerKey`] names a slot and the generation the
//!   event was scheduled in; cancelling frees the slot and bumps its generation, so a key kept
//!   after its event fired or was cancelled can never touch a later event that reuses the
//!   slot. The heap entry of a cancelled event stays until it reaches the top and is skipped
//!   (lazy deletion: O(log n) schedule and pop, O(1) cancel).
//! - **The past** is now: an event scheduled for an instant already passed happens at the
//!   current instant, after the events already queued for it. Simulated time never goes back.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::engine::SimTime;

/// Names a scheduled event, to cancel it or ask whether it is still pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerKey {
    slot: u32,
    generation: u32,
}

/// One heap entry: the instant, the sequence number, and the slot the event waits in. The
/// sequence number is unique, so the slot and generation never decide the order.
type Entry = Reverse<(u64, u64, u32, u32)>;

#[derive(Debug)]
struct Slot<E> {
    generation: u32,
    event: Option<E>,
}

/// A deterministic priority queue of events of type `E` on simulated time.
#[derive(Debug)]
pub struct EventQueue<E> {
    now: SimTime,
    next_seq: u64,
    heap: BinaryHeap<Entry>,
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
    live: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at [`SimTime::ZERO`].
    pub fn new() -> EventQueue<E> {
        EventQueue {
            now: SimTime::ZERO,
            next_seq: 0,
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// The current instant: the time of the event taken last.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events scheduled and neither taken nor cancelled.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Schedules `event` at `at` (at the current instant if `at` has passed).
    pub fn schedule_at(&mut self, at: SimTime, event: E) -> TimerKey {
        let at = at.max(self.now);
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                // A slot index past u32::MAX would mean four billion events pending at once,
                // far beyond memory; saturating keeps the arithmetic total.
                let i = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Slot {
                    generation: 0,
                    event: None,
                });
                i
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.event = Some(event);
        let key = TimerKey {
            slot,
            generation: entry.generation,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap
            .push(Reverse((at.as_nanos(), seq, slot, key.generation)));
        self.live += 1;
        key
    }

    /// Schedules `event` `after` from now.
    pub fn schedule_in(&mut self, after: Duration, event: E) -> TimerKey {
        self.schedule_at(self.now + after, event)
    }

    /// Cancels the event `key` names and returns it; `None` if it already happened or was
    /// cancelled (then nothing changes).
    pub fn cancel(&mut self, key: TimerKey) -> Option<E> {
        let slot = self.slots.get_mut(key.slot as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let event = slot.event.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.slot);
        self.live -= 1;
        Some(event)
    }

    /// Whether the event `key` names is still to happen.
    pub fn is_pending(&self, key: TimerKey) -> bool {
        self.slots
            .get(key.slot as usize)
            .is_some_and(|s| s.generation == key.generation && s.event.is_some())
    }

    /// The instant of the next event, if any.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.drop_stale();
        self.heap
            .peek()
            .map(|Reverse((at, ..))| SimTime::from_duration(Duration::from_nanos(*at)))
    }

    /// Takes the next event and moves the clock to its instant.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.drop_stale();
        let Reverse((at, _, slot, _)) = self.heap.pop()?;
        let entry = &mut self.slots[slot as usize];
        let event = entry.event.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
        self.now = SimTime::from_duration(Duration::from_nanos(at));
        Some((self.now, event))
    }

    /// Takes the next event if it happens at or before `limit`; otherwise moves the clock to
    /// `limit` (never back) and returns `None`. A driver runs to the end of a simulated
    /// second, or of the run, with it.
    pub fn pop_until(&mut self, limit: SimTime) -> Option<(SimTime, E)> {
        match self.peek_time() {
            Some(at) if at <= limit => self.pop(),
            _ => {
                self.now = self.now.max(limit);
                None
            }
        }
    }

    /// Pops heap entries whose event was cancelled.
    fn drop_stale(&mut self) {
        while let Some(Reverse((_, _, slot, generation))) = self.heap.peek() {
            let s = &self.slots[*slot as usize];
            if s.generation == *generation && s.event.is_some() {
                return;
            }
            self.heap.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    #[test]
    fn events_come_in_time_order_and_ties_in_scheduling_order() {
        let mut q = EventQueue::new();
        q.schedule_at(ms(5), "c");
        q.schedule_at(ms(1), "a");
        q.schedule_at(ms(5), "d");
        q.schedule_at(ms(3), "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![(ms(1), "a"), (ms(3), "b"), (ms(5), "c"), (ms(5), "d")]
        );
        assert_eq!(q.now(), ms(5));
        assert!(q.is_empty());
    }

    #[test]
    fn time_is_exact_to_the_nanosecond() {
        let mut q = EventQueue::new();
        let at = SimTime::from_duration(Duration::from_nanos(10_300_001));
        q.schedule_at(at, ());
        q.schedule_in(Duration::from_nanos(1), ());
        assert_eq!(q.pop().map(|e| e.0.as_nanos()), Some(1));
        assert_eq!(q.pop().map(|e| e.0.as_nanos()), Some(10_300_001));
        // Relative to the new now.
        q.schedule_in(Duration::from_nanos(7), ());
        assert_eq!(q.pop().map(|e| e.0.as_nanos()), Some(10_300_008));
    }

    #[test]
    fn a_cancelled_timer_never_fires_and_cancels_once() {
        let mut q = EventQueue::new();
        let a = q.schedule_at(ms(1), "a");
        let b = q.schedule_at(ms(2), "b");
        assert!(q.is_pending(a));
        assert_eq!(q.cancel(a), Some("a"));
        assert_eq!(q.cancel(a), None);
        assert!(!q.is_pending(a));
        assert_eq!(q.len(), 1);
        assert_eq!(q.peek_time(), Some(ms(2)));
        assert_eq!(q.pop(), Some((ms(2), "b")));
        // Fired: no longer pending, and cancelling it is a no-op.
        assert!(!q.is_pending(b));
        assert_eq!(q.cancel(b), None);
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_stale_key_cannot_cancel_the_event_that_reuses_its_slot() {
        let mut q = EventQueue::new();
        let old = q.schedule_at(ms(1), 1);
        assert_eq!(q.pop(), Some((ms(1), 1)));
        let new = q.schedule_at(ms(2), 2);
        assert_eq!(old.slot, new.slot, "the freed slot is reused");
        assert_eq!(q.cancel(old), None);
        assert!(q.is_pending(new));
        assert_eq!(q.pop(), Some((ms(2), 2)));
    }

    #[test]
    fn the_past_is_now_and_pop_until_stops_at_the_limit() {
        let mut q = EventQueue::new();
        q.schedule_at(ms(10), "late");
        assert_eq!(q.pop_until(ms(4)), None);
        assert_eq!(q.now(), ms(4));
        q.schedule_at(ms(1), "past");
        assert_eq!(q.pop_until(ms(4)), Some((ms(4), "past")));
        assert_eq!(q.pop_until(ms(10)), Some((ms(10), "late")));
        // The clock never goes back.
        assert_eq!(q.pop_until(ms(3)), None);
        assert_eq!(q.now(), ms(10));
    }

    /// Throughput of the queue alone, for docs/PERFORMANCE.md (a release build; ignored in
    /// the debug suite): the hold model, 10,000 events pending, each event taken schedules
    /// one more at a uniformly drawn offset of up to 10 ms, and one in eight is cancelled
    /// before it fires (a timeout that an answer beat).
    /// `cargo test --release --locked --lib fast::queue::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement: run in a release build"]
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    fn throughput() {
        use rand::Rng as _;
        let mut rng = crate::engine::seed::stream(1, "bench");
        let mut q = EventQueue::new();
        for _ in 0..10_000 {
            q.schedule_in(Duration::from_nanos(rng.random_range(0..10_000_000)), 0u64);
        }
        let n = 10_000_000u64;
        let start = std::time::Instant::now();
        let mut sum = 0u64;
        for i in 0..n {
            let Some((at, e)) = q.pop() else { break };
            sum = sum.wrapping_add(at.as_nanos() ^ e);
            let key = q.schedule_in(Duration::from_nanos(rng.random_range(0..10_000_000)), i);
            if i % 8 == 0 {
                q.cancel(key);
                q.schedule_in(Duration::from_nanos(rng.random_range(0..10_000_000)), i);
            }
        }
        let wall = start.elapsed();
        eprintln!(
            "{n} events taken (and {} cancelled) in {wall:?}: {:.1} M events/s, {:.1} ns per event (checksum {sum:x}, pending {})",
            n / 8,
            n as f64 / wall.as_secs_f64() / 1e6,
            wall.as_secs_f64() * 1e9 / n as f64,
            q.len()
        );
    }

    #[derive(Clone, Debug)]
    enum Op {
        Schedule(u64),
        Cancel(usize),
        Pop,
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                4 => (0u64..50).prop_map(Op::Schedule),
                2 => (0usize..64).prop_map(Op::Cancel),
                2 => Just(Op::Pop),
            ],
            0..200,
        )
    }

    proptest! {
        /// Against a model (a sorted list of live (time, seq) pairs): every pop returns the
        /// least live (time, seq), cancelled events never come out, and times never go back.
        #[test]
        fn pops_follow_time_then_sequence_and_cancelled_timers_never_fire(ops in ops()) {
            let mut q = EventQueue::new();
            // (at, seq, key) of every event scheduled, in scheduling order.
            let mut scheduled: Vec<(u64, u64, TimerKey)> = Vec::new();
            let mut live: Vec<(u64, u64)> = Vec::new();
            let mut cancelled: Vec<u64> = Vec::new();
            let mut last = 0u64;
            // The ops, then pops until the queue must be empty (at most 200 were scheduled).
            for op in ops.into_iter().chain(std::iter::repeat_n(Op::Pop, 201)) {
                match op {
                    Op::Schedule(delta) => {
                        let seq = scheduled.len() as u64;
                        let at = q.now().as_nanos() + delta;
                        let key = q.schedule_at(SimTime::from_duration(Duration::from_nanos(at)), seq);
                        scheduled.push((at, seq, key));
                        live.push((at, seq));
                    }
                    Op::Cancel(i) if !scheduled.is_empty() => {
                        let (at, seq, key) = scheduled[i % scheduled.len()];
                        let was_live = live.contains(&(at, seq));
                        let got = q.cancel(key);
                        prop_assert_eq!(got.is_some(), was_live);
                        if was_live {
                            prop_assert_eq!(got, Some(seq));
                            live.retain(|e| *e != (at, seq));
                            cancelled.push(seq);
                        }
                    }
                    Op::Pop => {
                        live.sort();
                        let want = if live.is_empty() { None } else { Some(live.remove(0)) };
                        let got = q.pop();
                        match (want, got) {
                            (None, None) => {}
                            (Some((at, seq)), Some((t, e))) => {
                                prop_assert_eq!(t.as_nanos(), at);
                                prop_assert_eq!(e, seq);
                                prop_assert!(at >= last);
                                prop_assert!(!cancelled.contains(&e));
                                last = at;
                            }
                            (w, g) => prop_assert!(false, "want {:?}, got {:?}", w, g),
                        }
                        prop_assert_eq!(q.len(), live.len());
                    }
                    _ => {}
                }
            }
            prop_assert!(q.is_empty());
        }
    }
}
