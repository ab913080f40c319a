//! [`RevocationService`]: carries each request through the [`Pipeline`](crate::pipeline).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::{Pending, ResponseFuture};
use crate::pipeline::Pipeline;
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
        let authenticated = match self.pipeline.authenticate(&request) {
            Ok(authenticated) => authenticated,
            Err(kind) => {
                LayerStats::count(&self.pipeline.stats.rejected_invalid);
                let rejection = Rejection::new(kind, protocol);
                tracing::debug!(reason = %rejection.description(), "token refused");
                return ResponseFuture::reject(respond(&self.rejection, &rejection));
            }
        };
        let check = self.pipeline.check(&authenticated.token);
        // The inner service that was polled ready is the one to call; leave a clone behind.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let pending = Pending {
            inner,
            request,
            authenticated,
            pipeline: Arc::clone(&self.pipeline),
            rejection: self.rejection.clone(),
            protocol,
        };
        ResponseFuture::check(check, pending)
    }
}
