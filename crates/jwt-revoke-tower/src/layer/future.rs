//! [`ResponseFuture`]: the named future of [`RevocationService`](crate::RevocationService).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::pipeline::{CheckFuture, Pipeline};
use crate::rejection::{Protocol, Rejection, RejectionResponse, respond};
use crate::verify::Authenticated;

/// What the check state carries until the store answers.
pub(crate) struct Pending<S, ReqBody, R> {
    pub(crate) inner: S,
    pub(crate) request: Request<ReqBody>,
    pub(crate) authenticated: Authenticated,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) rejection: R,
    pub(crate) protocol: Protocol,
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

    /// Waits for `check`, then goes on with what `pending` carries.
    pub(crate) fn check(check: CheckFuture, pending: Pending<S, ReqBody, R>) -> Self {
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
                        pipeline,
                        rejection,
                        protocol,
                    } = pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match pipeline.decide(outcome, &mut request, authenticated) {
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
