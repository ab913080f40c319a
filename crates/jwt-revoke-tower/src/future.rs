//! [`ResponseFuture`]: the named future of [`RevocationService`](crate::RevocationService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use jwt_revoke_core::{StoreError, Verdict};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::layer::Shared;
use crate::rejection::{Protocol, Rejection, RejectionResponse};
use crate::service::{Authenticated, decide, respond};

/// The store call of one request, bounded by the layer's store timeout. Boxed because the
/// store is a trait object; named, with a `Debug`, so that it does not leak an unnameable type
/// into signatures.
///
/// The timer is armed only if the store does not answer at the first poll: a store that
/// answers at once (the memory store always does) costs no timer registration at all. The
/// limit then runs from that first poll, which is when the call started.
pub(crate) struct CheckFuture {
    call: Pin<Box<dyn Future<Output = Result<Verdict, StoreError>> + Send>>,
    limit: Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl CheckFuture {
    pub(crate) fn new(
        call: impl Future<Output = Result<Verdict, StoreError>> + Send + 'static,
        limit: Duration,
    ) -> Self {
        CheckFuture {
            call: Box::pin(call),
            limit,
            deadline: None,
        }
    }
}

impl Future for CheckFuture {
    type Output = Result<Verdict, StoreError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(outcome) = self.call.as_mut().poll(cx) {
            return Poll::Ready(outcome);
        }
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(StoreError::Timeout(limit))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for CheckFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckFuture").finish_non_exhaustive()
    }
}

/// What the check state carries until the store answers.
struct Pending<S, ReqBody, R> {
    inner: S,
    request: Request<ReqBody>,
    authenticated: Authenticated,
    shared: Arc<Shared>,
    rejection: R,
    protocol: Protocol,
}

pin_project! {
    /// The response future of [`RevocationService`](crate::RevocationService).
    pub struct ResponseFuture<S, ReqBody, R>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, R>
    where
        S: Service<Request<ReqBody>>,
    {
        Rejected { response: Option<S::Response> },
        Checking { #[pin] check: CheckFuture, pending: Option<Pending<S, ReqBody, R>> },
        Calling { #[pin] future: S::Future },
    }
}

impl<S, ReqBody, R> ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn reject(response: S::Response) -> Self {
        ResponseFuture {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn call(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Calling { future },
        }
    }

    pub(crate) fn check(
        check: CheckFuture,
        inner: S,
        request: Request<ReqBody>,
        authenticated: Authenticated,
        shared: Arc<Shared>,
        rejection: R,
        protocol: Protocol,
    ) -> Self {
        let pending = Pending {
            inner,
            request,
            authenticated,
            shared,
            rejection,
            protocol,
        };
        ResponseFuture {
            state: State::Checking {
                check,
                pending: Some(pending),
            },
        }
    }
}

impl<S, ReqBody, ResBody, R> Future for ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RejectionResponse<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response));
                }
                StateProj::Checking { check, pending } => {
                    let outcome = ready!(check.poll(cx));
                    let Pending {
                        mut inner,
                        mut request,
                        authenticated,
                        shared,
                        rejection,
                        protocol,
                    } = pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match decide(&shared, outcome, &mut request, authenticated) {
                        Ok(()) => {
                            let future = inner.call(request);
                            this.state.set(State::Calling { future });
                        }
                        Err(kind) => {
                            let response = respond(&rejection, &Rejection::new(kind, protocol));
                            this.state.set(State::Rejected { response: None });
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                StateProj::Calling { future } => return future.poll(cx),
            }
        }
    }
}
