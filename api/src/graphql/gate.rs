//! Dataloader batches that close when the request is waiting, not after a timer, and
//! run inside the request's own task.
//!
//! async-graphql's DataLoader gathers keys for a fixed delay after the first one, then
//! loads them in a task of its own. The executor resolves a page's siblings a few at a
//! time (its `FuturesUnordered` yields after two children ask to be polled again), so
//! on a busy or slow machine the delay can end halfway through a page of 100
//! customers, and the page costs two statements instead of one. That makes the
//! statement count depend on the machine, which is exactly what the N+1 rule forbids.
//!
//! A [`Gate`] makes each request a single-threaded event loop, while different
//! requests still run in parallel:
//! - the loaders hand their batches to the gate ([`Gate::adopt`]) instead of spawning
//!   them, and the request's execution ([`Gate::request`]) polls them in its own task;
//! - a batch takes its keys only when the execution is *idle*: its last poll returned
//!   `Pending` without waking itself, so every sibling that could add a key has done
//!   so;
//! - a finished batch hands out all its results before the execution runs again and
//!   sees them together.
//!
//! The loaders therefore use no delay at all: a batch is exactly the keys one wave of
//! the query asks for. Running the batches in the request's task, not in tasks of
//! their own, also spares the runtime a spawn per batch and the wake-up of its other
//! worker to steal it: on a customer by id the other worker woke (a futex and an
//! interrupt between the machine's two cores) for a batch that then waited on the
//! request's one connection anyway.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};

/// The batches of one request, handed over by its loaders.
#[derive(Clone, Default)]
pub struct Gate(Arc<Mutex<Vec<BoxFuture<'static, ()>>>>);

impl Gate {
    /// Wraps the request's execution, which then runs the gate's batches too.
    pub fn request<F: Future>(&self, future: F) -> Execution<F> {
        Execution {
            inner: Box::pin(future),
            gate: self.clone(),
            batches: FuturesUnordered::new(),
            flag: Arc::new(WakeFlag {
                woken: AtomicBool::new(true),
                polling: AtomicBool::new(false),
                waker: Mutex::new(Waker::noop().clone()),
            }),
            yielded: None,
        }
    }

    /// Takes a dataloader batch, to run when the request's execution is idle.
    pub fn adopt(&self, batch: BoxFuture<'static, ()>) {
        self.lock().push(batch);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<BoxFuture<'static, ()>>> {
        // Pushing and draining a vector leave it whole whatever panics around them.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request's execution and the batches its loaders handed over.
pub struct Execution<F> {
    inner: Pin<Box<F>>,
    gate: Gate,
    /// Batches taken from the gate, running.
    batches: FuturesUnordered<BoxFuture<'static, ()>>,
    /// Whether the execution itself was woken since its last poll.
    flag: Arc<WakeFlag>,
    /// Set while the task waits for the wake-ups that tokio deferred.
    yielded: Option<Arc<Yielded>>,
}

impl<F: Future> Future for Execution<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.flag.enter(cx.waker());
        let execution_waker = Waker::from(this.flag.clone());
        loop {
            // The task is also woken for its batches' statements; the execution,
            // waiting on their results, is polled only when something woke it.
            if this.flag.woken.swap(false, Ordering::AcqRel) {
                let result = this
                    .inner
                    .as_mut()
                    .poll(&mut Context::from_waker(&execution_waker));
                if let Poll::Ready(output) = result {
                    this.flag.leave();
                    return Poll::Ready(output);
                }
                // Woken during its own poll: the executor yielded midway and runs
                // again at once, before any batch, since some siblings have not
                // asked for their keys yet.
                if this.flag.woken.load(Ordering::Acquire) {
                    continue;
                }
                // Nor is it idle when tokio's budget for this poll of the task ran
                // out: each of its resources then answers `Pending` and defers its
                // wake-up until the runtime has run its other tasks
                // (`tokio::task::coop`), so a sibling may be waiting to ask for its
                // keys. A page of 100 customers, whose 140 group connections each
                // take a semaphore to count once, ran out, and split a batch in two.
                // The task defers a wake-up of its own behind theirs and waits for
                // it before it takes another batch.
                if !tokio::task::coop::has_budget_remaining() {
                    this.flag.woken.store(true, Ordering::Release);
                    this.flag.leave();
                    this.yielded = Some(Yielded::defer(cx));
                    return Poll::Pending;
                }
            }
            // Idle: every key of this wave is in. Its batches start, and run until
            // each waits on the database or finishes, handing out its results (which
            // wake the execution: the loop polls it again at once).
            if this.yielded.as_ref().is_none_or(|yielded| yielded.over()) {
                this.yielded = None;
                this.batches.extend(this.gate.lock().drain(..));
            }
            while let Poll::Ready(Some(())) = this.batches.poll_next_unpin(cx) {}
            if this.flag.woken.load(Ordering::Acquire) {
                continue;
            }
            // Nothing more to do now. A wake-up that came as the loop ended is not
            // lost: `leave` says so, and the loop runs again.
            if this.flag.leave() {
                this.flag.enter(cx.waker());
                continue;
            }
            return Poll::Pending;
        }
    }
}

impl<F> Drop for Execution<F> {
    fn drop(&mut self) {
        // The execution is gone (finished, or dropped at the deadline or when the
        // client left): its batches run on to the end in tasks of their own, and give
        // back their connections. A batch dropped mid-statement would give its
        // connection back with an answer still on the way.
        let mut leftovers = std::mem::take(&mut self.batches);
        leftovers.extend(self.gate.lock().drain(..));
        if leftovers.is_empty() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { while leftovers.next().await.is_some() {} });
        }
    }
}

/// A wake-up deferred behind those tokio deferred for the task's resources: the
/// runtime runs its deferred wake-ups together, so once this one has run, so have they.
struct Yielded {
    over: AtomicBool,
    task: Waker,
}

impl Yielded {
    fn defer(cx: &Context<'_>) -> Arc<Self> {
        let yielded = Arc::new(Self {
            over: AtomicBool::new(false),
            task: cx.waker().clone(),
        });
        let waker = Waker::from(yielded.clone());
        // `yield_now` defers its first wake-up to the runtime (at once outside one).
        let _ = std::pin::pin!(tokio::task::yield_now()).poll(&mut Context::from_waker(&waker));
        yielded
    }

    fn over(&self) -> bool {
        self.over.load(Ordering::Acquire)
    }
}

impl Wake for Yielded {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.over.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

/// The execution's waker: remembers that it was woken, and wakes the task only when
/// the task is not already in [`Execution::poll`], whose loop looks at the flag
/// before it returns. A wake-up from inside that poll (a batch handing out its
/// results) so costs the runtime nothing: no second poll, no other worker woken.
struct WakeFlag {
    woken: AtomicBool,
    /// In the task's poll.
    polling: AtomicBool,
    /// The task's waker, as of its last poll.
    waker: Mutex<Waker>,
}

impl WakeFlag {
    fn enter(&self, waker: &Waker) {
        let mut kept = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        if !kept.will_wake(waker) {
            kept.clone_from(waker);
        }
        drop(kept);
        self.polling.store(true, Ordering::SeqCst);
    }

    /// Leaves the poll; whether the execution was woken meanwhile, so that the poll
    /// must go on (the waker may have seen `polling` still set, and not woken the task).
    fn leave(&self) -> bool {
        self.polling.store(false, Ordering::SeqCst);
        self.woken.load(Ordering::SeqCst)
    }
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.waker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the times the task was woken.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A future that asks to be polled again at once, `times` times, then is done.
    struct Busy {
        times: usize,
    }

    impl Future for Busy {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.times == 0 {
                return Poll::Ready(());
            }
            self.times -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_batch_answers_its_execution_within_one_poll_and_no_wake_up() {
        let gate = Gate::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let adopter = gate.clone();
        let mut execution = Box::pin(gate.request(async move {
            adopter.adopt(Box::pin(async move {
                let _ = tx.send(7);
            }));
            rx.await.unwrap()
        }));
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let result = execution.as_mut().poll(&mut Context::from_waker(&waker));
        assert_eq!(result, Poll::Ready(7));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_batch_waits_while_the_execution_wakes_itself() {
        let gate = Gate::default();
        let ran = Arc::new(AtomicBool::new(false));
        let batch_ran = ran.clone();
        gate.adopt(Box::pin(async move {
            batch_ran.store(true, Ordering::SeqCst);
        }));
        // Yields three times, each time waking itself: some sibling has not asked
        // for its keys yet, so the batch must not start in between.
        let mut execution = Box::pin(gate.request(Busy { times: 3 }));
        let result = execution
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(result.is_ready());
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_dropped_execution_lets_its_batches_finish() {
        let gate = Gate::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        gate.adopt(Box::pin(async move {
            // A statement still on its way when the request is dropped.
            let _ = rx.await;
            let _ = done_tx.send(());
        }));
        let mut execution = Box::pin(gate.request(std::future::pending::<()>()));
        let result = execution
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(result.is_pending());
        drop(execution);
        tx.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), done_rx)
            .await
            .expect("the batch left behind ran to its end")
            .unwrap();
    }
}
