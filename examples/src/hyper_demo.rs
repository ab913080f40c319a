//! A bare Hyper 1 server with the revocation layer, through hyper-util's Tower adapter: no
//! framework, the layer wraps a `tower::service_fn`.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /healthz` | 200, no token needed (bypassed) |
//! | `GET /me` | the caller's claims as JSON (protected) |
//! | `POST /logout` | revokes the caller's token → 204 (protected) |

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use jwt_revoke_tower::{BuildError, Claims, RevocationHandle};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::demo::DemoConfig;

/// The health check's path, outside the layer.
pub const HEALTH_PATH: &str = "/healthz";

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// The application: plain `http` types, the layer's extensions read by hand.
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, HEALTH_PATH) => text(StatusCode::OK, "ok"),
        (&Method::GET, "/me") => match request.extensions().get::<Claims>() {
            Some(claims) => {
                let mut response = Response::new(Full::new(Bytes::from(claims.json().to_owned())));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                response
            }
            None => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the revocation layer is missing",
            ),
        },
        (&Method::POST, "/logout") => match request.extensions().get::<RevocationHandle>() {
            Some(handle) => match handle.revoke_token().await {
                Ok(_) => text(StatusCode::NO_CONTENT, ""),
                Err(err) => {
                    tracing::warn!(%err, "revocation failed");
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the revocation could not be recorded",
                    )
                }
            },
            None => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the revocation layer is missing",
            ),
        },
        _ => text(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

/// Serves HTTP/1 connections on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: DemoConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BuildError> {
    let layer = config.build_layer(|builder| builder.bypass(HEALTH_PATH))?;
    let service = ServiceBuilder::new().layer(layer).service_fn(handle);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(%err, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
}
