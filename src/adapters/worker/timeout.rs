//! Bounding a future by a Worker timer, and joining futures, without pulling in an executor's
//! select/join machinery.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use worker::Delay;

/// `Some(output)`, or `None` when `limit` passed first (the future is then dropped).
pub async fn within<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut timer = pin!(Delay::from(limit));
    poll_fn(|context| {
        if let Poll::Ready(output) = future.as_mut().poll(context) {
            return Poll::Ready(Some(output));
        }
        if timer.as_mut().poll(context).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Polls three futures together (in order, each until ready) and yields all three outputs: the
/// requests they send leave in that order, pipelined on one connection.
pub async fn join3<A: Future, B: Future, C: Future>(a: A, b: B, c: C) -> (A::Output, B::Output, C::Output) {
    let (mut a, mut b, mut c) = (pin!(a), pin!(b), pin!(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    poll_fn(|context| {
        if ra.is_none() {
            if let Poll::Ready(output) = a.as_mut().poll(context) {
                ra = Some(output);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(output) = b.as_mut().poll(context) {
                rb = Some(output);
            }
        }
        if rc.is_none() {
            if let Poll::Ready(output) = c.as_mut().poll(context) {
                rc = Some(output);
            }
        }
        match (ra.take(), rb.take(), rc.take()) {
            (Some(a), Some(b), Some(c)) => Poll::Ready((a, b, c)),
            (a, b, c) => {
                (ra, rb, rc) = (a, b, c);
                Poll::Pending
            }
        }
    })
    .await
}
