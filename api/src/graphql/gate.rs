//! Dataloader batches that close when the request is waiting, not after a timer.
//!
//! async-graphql's DataLoader gathers keys for a fixed delay after the first one, then
//! loads them in a task of its own. The executor resolves a page's siblings a few at a
//! time (its `FuturesUnordered` yields after two children ask to be polled again), so
//! on a busy or slow machine the delay can end halfway through a page of 100
//! customers, and the page costs two statements instead of one. That makes the
//! statement count depend on the machine, which is exactly what the N+1 rule forbids.
//!
//! A [`Gate`] makes each request behave like a single-threaded event loop, while
//! different requests still run in parallel:
//! - a batch task may take keys only when the request's execution is *idle*: its last
//!   poll returned `Pending` without waking itself, so every sibling that could add a
//!   key has done so;
//! - the execution and its batch tasks never run at the same time, so a finished batch
//!   hands out all its results before execution resumes and sees them together.
//!
//! The loaders therefore use no delay at all: a batch is exactly the keys one wave of
//! the query asks for. Polls are short and CPU-bound, so a plain mutex is enough.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

#[derive(Clone, Default)]
pub struct Gate(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    /// The execution is waiting on loads (or has finished), not about to run again.
    request_idle: bool,
    /// Batch tasks waiting for the execution to go idle.
    waiting_batches: Vec<Waker>,
}

impl Gate {
    /// Wraps the request's execution.
    pub fn request<F: Future>(&self, future: F) -> Gated<F, Execution> {
        self.wrap(future, true)
    }

    /// Wraps one dataloader batch task.
    pub fn batch<F: Future>(&self, future: F) -> Gated<F, Batch> {
        self.wrap(future, false)
    }

    fn wrap<F: Future, R>(&self, future: F, is_execution: bool) -> Gated<F, R> {
        Gated {
            inner: Box::pin(future),
            gate: self.clone(),
            is_execution,
            role: std::marker::PhantomData,
        }
    }

    /// The execution is gone (finished, or dropped at the deadline or when the
    /// client left): batches run on, to the end, and give back their connections.
    fn release(&self) {
        let mut state = self.lock();
        state.request_idle = true;
        state.waiting_batches.drain(..).for_each(Waker::wake);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while polling leaves no half-updated state: both fields are
        // rewritten on every poll.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marker for the request's execution future.
pub struct Execution;
/// Marker for a dataloader batch task.
pub struct Batch;

pub struct Gated<F, R> {
    inner: Pin<Box<F>>,
    gate: Gate,
    /// The execution's wrapper, whose end opens the gate for good.
    is_execution: bool,
    role: std::marker::PhantomData<fn() -> R>,
}

impl<F: Future> Future for Gated<F, Execution> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let gate = this.gate.clone();
        let mut state = gate.lock();
        state.request_idle = false;
        let flag = Arc::new(WakeFlag {
            woken: AtomicBool::new(false),
            waker: cx.waker().clone(),
        });
        let waker = Waker::from(flag.clone());
        let result = this.inner.as_mut().poll(&mut Context::from_waker(&waker));
        // Woken during its own poll: the executor yielded midway and runs again at
        // once, so some siblings have not asked for their keys yet.
        if result.is_ready() || !flag.woken.load(Ordering::Acquire) {
            state.request_idle = true;
            state.waiting_batches.drain(..).for_each(Waker::wake);
        }
        result
    }
}

impl<F: Future> Future for Gated<F, Batch> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let gate = this.gate.clone();
        let mut state = gate.lock();
        if !state.request_idle {
            state.waiting_batches.push(cx.waker().clone());
            return Poll::Pending;
        }
        this.inner.as_mut().poll(cx)
    }
}

impl<F, R> Drop for Gated<F, R> {
    fn drop(&mut self) {
        // A batch left waiting behind a dropped execution would wait for ever, with
        // the pool connection it holds mid-query: a standby's pool ran dry this way
        // under wrk, whose runs end by dropping the requests in flight.
        if self.is_execution {
            self.gate.release();
        }
    }
}

/// Forwards wake-ups and remembers that one happened.
struct WakeFlag {
    woken: AtomicBool,
    waker: Waker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake_by_ref();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A future that asks to be polled again at once, every time: an execution
    /// that yielded midway, so its gate stays closed.
    struct Busy;

    impl Future for Busy {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_dropped_execution_lets_its_batches_finish() {
        let gate = Gate::default();
        let mut execution = Box::pin(gate.request(Busy));
        let mut batch = Box::pin(gate.batch(std::future::ready(7)));
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(execution.as_mut().poll(&mut cx).is_pending());
        assert!(
            batch.as_mut().poll(&mut cx).is_pending(),
            "the gate is closed"
        );
        drop(execution);
        assert_eq!(batch.as_mut().poll(&mut cx), Poll::Ready(7));
    }
}
