//! [`RevocationService`]: carries each request through the [`Pipeline`](crate::pipeline).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::{Pending, Request as Carried, ResponseFuture};
use crate::pipeline::{Pipeline, Unauthenticated};
use crate::rejection::{Protocol, Rejection, RejectionResponse, respond};
use crate::stats::LayerStats;

/// The service [`RevocationLayer`](crate::RevocationLayer) wraps around yours.
#[derive(Clone)]
pub struct RevocationService<S, R> {
    inner: S,
    pipeline: Arc<Pipeline>,
    rejection: R,
}

impl<S, R> RevocationService<S, R> {
    pub(crate) fn new(inner: S, pipeline: Arc<Pipeline>, rejection: R) -> Self {
        RevocationService {
            inner,
            pipeline,
            rejection,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: std::fmt::Debug, R> std::fmt::Debug for RevocationService<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for RevocationService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: RejectionResponse<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.pipeline.bypasses(&request) {
            return ResponseFuture::call(self.inner.call(request));
        }
        let protocol = Protocol::of(&request);
        let span = crate::observe::decision_span();
        let entered = span.enter();
        let authenticated = match self.pipeline.authenticate(&request, true) {
            Ok(authenticated) => Ok(authenticated),
            Err(Unauthenticated::Refused(kind))
                if self.pipeline.shadow_lets_through(&kind, &span) =>
            {
                drop(entered);
                return ResponseFuture::call(self.inner.call(request));
            }
            Err(Unauthenticated::Refused(kind)) => {
                return ResponseFuture::reject(refuse(
                    &self.pipeline,
                    &self.rejection,
                    kind,
                    protocol,
                    &span,
                ));
            }
            Err(Unauthenticated::AwaitKeys(wait)) => Err(wait),
        };
        drop(entered);
        // The inner service that was polled ready is the one to call; leave a clone behind.
        let clone = self.inner.clone();
        let carried = Carried {
            inner: std::mem::replace(&mut self.inner, clone),
            request,
            pipeline: Arc::clone(&self.pipeline),
            rejection: self.rejection.clone(),
            protocol,
            span,
        };
        let authenticated = match authenticated {
            Ok(authenticated) => authenticated,
            // The token's `kid` is new to its issuer's key set: verify it again once the set
            // has been fetched.
            Err(wait) => return ResponseFuture::await_keys(Box::pin(wait.wait()), carried),
        };
        let check = self.pipeline.check(&authenticated.token);
        let pending = Pending {
            carried,
            authenticated,
        };
        ResponseFuture::check(check, pending)
    }
}

/// The response that refuses a request, counted and logged.
pub(super) fn refuse<B, R: RejectionResponse<B>>(
    pipeline: &Pipeline,
    rejection: &R,
    kind: crate::RejectionKind,
    protocol: Protocol,
    span: &tracing::Span,
) -> Response<B> {
    LayerStats::count(&pipeline.stats.rejected_invalid);
    crate::observe::decision(span, "rejected", kind.reason(), None);
    let rejection_value = Rejection::new(kind, protocol);
    tracing::debug!(reason = %rejection_value.description(), "token refused");
    respond(rejection, &rejection_value)
}
