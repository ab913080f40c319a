//! [`ResponseFuture`]: the named future of [`RevocationService`](crate::RevocationService).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::service::refuse;
use crate::pipeline::{CheckFuture, Pipeline, Unauthenticated};
use crate::rejection::{Protocol, Rejection, RejectionResponse, respond};
use crate::verify::Authenticated;

/// A request on its way through the layer, with what answering it needs.
pub(crate) struct Request<S, ReqBody, R> {
    pub(crate) inner: S,
    pub(crate) request: http::Request<ReqBody>,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) rejection: R,
    pub(crate) protocol: Protocol,
    /// The decision's span, entered while the request is judged.
    pub(crate) span: tracing::Span,
}

/// What the check state carries until the store answers.
pub(crate) struct Pending<S, ReqBody, R> {
    pub(crate) carried: Request<S, ReqBody, R>,
    pub(crate) authenticated: Authenticated,
}

/// A wait for a key set's fetch (an unknown `kid`).
type KeyWaitFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

pin_project! {
    /// The response future of [`RevocationService`](crate::RevocationService).
    pub struct ResponseFuture<S, ReqBody, R>
    where
        S: Service<http::Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, R>
    where
        S: Service<http::Request<ReqBody>>,
    {
        Rejected { response: Option<S::Response> },
        AwaitingKeys { wait: KeyWaitFuture, carried: Option<Request<S, ReqBody, R>> },
        Checking { #[pin] check: CheckFuture, pending: Option<Pending<S, ReqBody, R>> },
        Calling { #[pin] future: S::Future },
    }
}

impl<S, ReqBody, R> ResponseFuture<S, ReqBody, R>
where
    S: Service<http::Request<ReqBody>>,
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

    /// Waits for a key set's fetch, then authenticates `carried` again (without waiting twice).
    pub(crate) fn await_keys(wait: KeyWaitFuture, carried: Request<S, ReqBody, R>) -> Self {
        ResponseFuture {
            state: State::AwaitingKeys {
                wait,
                carried: Some(carried),
            },
        }
    }
}

impl<S, ReqBody, ResBody, R> Future for ResponseFuture<S, ReqBody, R>
where
    S: Service<http::Request<ReqBody>, Response = Response<ResBody>>,
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
                StateProj::AwaitingKeys { wait, carried } => {
                    ready!(wait.as_mut().poll(cx));
                    let carried = carried
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let span = carried.span.clone();
                    let entered = span.enter();
                    match carried.pipeline.authenticate(&carried.request, false) {
                        Ok(authenticated) => {
                            let check = carried.pipeline.check(&authenticated.token);
                            this.state.set(State::Checking {
                                check,
                                pending: Some(Pending {
                                    carried,
                                    authenticated,
                                }),
                            });
                        }
                        Err(Unauthenticated::Refused(kind))
                            if carried.pipeline.shadow_lets_through(&kind, &span) =>
                        {
                            // Your service runs outside the decision's span.
                            drop(entered);
                            let Request {
                                mut inner, request, ..
                            } = carried;
                            let future = inner.call(request);
                            this.state.set(State::Calling { future });
                        }
                        Err(refused) => {
                            let kind = match refused {
                                Unauthenticated::Refused(kind) => kind,
                                // Not asked to wait, so not given one: never a second wait.
                                Unauthenticated::AwaitKeys(_) => {
                                    crate::RejectionKind::InvalidToken(
                                        crate::InvalidReason::UnknownKey,
                                        "the token's key id (kid) is not known".into(),
                                    )
                                }
                            };
                            let response = refuse(
                                &carried.pipeline,
                                &carried.rejection,
                                kind,
                                carried.protocol,
                                &span,
                            );
                            this.state.set(State::Rejected { response: None });
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                StateProj::Checking { check, pending } => {
                    // The store call's own logs belong to the decision.
                    let outcome = {
                        let _entered = pending.as_ref().map(|p| p.carried.span.enter());
                        ready!(check.poll(cx))
                    };
                    let Pending {
                        carried:
                            Request {
                                mut inner,
                                mut request,
                                pipeline,
                                rejection,
                                protocol,
                                span,
                            },
                        authenticated,
                    } = pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let entered = span.enter();
                    let decided = pipeline.decide(outcome, &mut request, authenticated, &span);
                    drop(entered);
                    match decided {
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
