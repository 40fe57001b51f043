//! What the Redis and PostgreSQL writers share: taking a batch of requests off the queue,
//! numbering its events, and settling them (stored, or expired while the bus was away).

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::envelope;
use crate::{BusError, NoteLevel, Request, Shared};

/// An event numbered and encoded, waiting to be stored.
pub(crate) struct Pending {
    pub(crate) seq: u64,
    pub(crate) payload: String,
    deadline: Instant,
    reply: oneshot::Sender<Result<u64, BusError>>,
}

/// A command to run on the bus's connection (PostgreSQL).
pub(crate) struct Command {
    pub(crate) sql: String,
    pub(crate) reply: oneshot::Sender<Result<(), BusError>>,
}

/// The requests queued behind `first` (at most `max` events), in queue order. Events are
/// numbered here, in the order they will be written: readers rely on it.
pub(crate) fn take_batch(
    first: Request,
    requests: &mut mpsc::Receiver<Request>,
    shared: &Shared,
    next_seq: &mut u64,
    max: usize,
) -> (Vec<Pending>, Vec<Command>) {
    let (mut events, mut commands) = (Vec::new(), Vec::new());
    let mut request = Some(first);
    while let Some(current) = request.take() {
        match current {
            Request::Publish { event, deadline, reply } => {
                *next_seq += 1;
                let payload = envelope::encode(&event, shared.id, *next_seq);
                events.push(Pending { seq: *next_seq, payload, deadline, reply });
            }
            Request::Execute { sql, reply } => commands.push(Command { sql, reply }),
        }
        if events.len() < max {
            request = requests.try_recv().ok();
        }
    }
    (events, commands)
}

/// Fails the events whose publish timeout passed (the bus was unreachable meanwhile) and
/// returns the others.
pub(crate) fn drop_expired(batch: Vec<Pending>, shared: &Shared, bus: &str) -> Vec<Pending> {
    let now = Instant::now();
    let (expired, live): (Vec<Pending>, Vec<Pending>) = batch.into_iter().partition(|p| p.deadline <= now);
    for pending in expired {
        let _ = pending.reply.send(Err(BusError::PublishTimeout {
            seconds: shared.options.publish_timeout.as_secs_f64(),
            reason: format!("{bus} is unreachable"),
        }));
    }
    live
}

/// The batch is stored: each publish learns its number.
pub(crate) fn stored(batch: Vec<Pending>, shared: &Shared) {
    shared.status.published(batch.len() as u64);
    for pending in batch {
        let _ = pending.reply.send(Ok(pending.seq));
    }
}

/// Writing failed: the connection is given up (a new one is opened for the retry).
pub(crate) fn write_failed(shared: &Shared, bus: &str, reason: String) {
    shared.status.publisher(false);
    shared.note(
        NoteLevel::Warning,
        "bus.disconnected",
        format!("{bus} bus: publishing failed, reconnecting: {reason}"),
    );
}

/// A new publishing connection is up.
pub(crate) fn reconnected(shared: &Shared, bus: &str) {
    shared.status.publisher(true);
    shared.status.reconnected();
    shared.note(NoteLevel::Info, "bus.reconnected", format!("{bus} bus: publishing again"));
}
