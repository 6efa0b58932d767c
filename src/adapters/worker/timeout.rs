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

/// Polls two futures together (in order, each until ready) and yields both outputs: the requests
/// they send leave in that order, pipelined on one connection.
pub async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
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
        match (ra.take(), rb.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (ra, rb) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}
