//! A real identity provider's key endpoints for the remote-keys tests: an Axum server on
//! `127.0.0.1:0` serving `/jwks` and `/.well-known/openid-configuration`, whose answers the test
//! changes while it runs (the key set, the status, a delay, `Cache-Control`, a raw body, a
//! redirect) and which counts the requests it receives on each path.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::routing::get;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What the server answers, changed at run time.
struct Settings {
    base: String,
    jwks: Mutex<Value>,
    status: AtomicU16,
    delay_ms: AtomicU64,
    cache_control: Mutex<Option<String>>,
    /// Sent instead of the key set (garbage, an oversize document...).
    body: Mutex<Option<Vec<u8>>>,
    /// The key set's body is sent in chunks, without `Content-Length`.
    chunked: AtomicBool,
    /// The discovery document's `issuer` (default: the base URL).
    issuer: Mutex<Option<String>>,
    /// The discovery document's `jwks_uri` (default: the base URL + `/jwks`).
    jwks_uri: Mutex<Option<String>>,
    /// `/jwks` answers 302 to this location.
    redirect: Mutex<Option<String>>,
    jwks_hits: AtomicU64,
    discovery_hits: AtomicU64,
}

/// A running (or stopped) key server.
pub struct JwksServer {
    settings: Arc<Settings>,
    addr: SocketAddr,
    running: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl JwksServer {
    /// A server on a free loopback port serving `jwks`.
    pub async fn start(jwks: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let addr = listener.local_addr().expect("bound");
        let settings = Arc::new(Settings {
            base: format!("http://{addr}"),
            jwks: Mutex::new(jwks),
            status: AtomicU16::new(200),
            delay_ms: AtomicU64::new(0),
            cache_control: Mutex::new(None),
            body: Mutex::new(None),
            chunked: AtomicBool::new(false),
            issuer: Mutex::new(None),
            jwks_uri: Mutex::new(None),
            redirect: Mutex::new(None),
            jwks_hits: AtomicU64::new(0),
            discovery_hits: AtomicU64::new(0),
        });
        let server = JwksServer {
            settings,
            addr,
            running: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(Arc::clone(&self.settings));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("the key server runs");
        });
        *self.running.lock().expect("server state") = Some((stop, task));
    }

    /// Stops listening (and closes its connections): the key server is down.
    pub async fn stop(&self) {
        let running = self.running.lock().expect("server state").take();
        if let Some((stop, task)) = running {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    /// Listens again, on the same port.
    pub async fn restart(&self) {
        self.stop().await;
        let mut attempts = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(err) if attempts < 50 => {
                    attempts += 1;
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(err) => panic!("cannot listen on {} again: {err}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// `http://127.0.0.1:port`, the issuer of its discovery document by default.
    pub fn base(&self) -> &str {
        &self.settings.base
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.settings.base)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_jwks(&self, jwks: Value) {
        *self.settings.jwks.lock().expect("server state") = jwks;
    }

    /// The status of every answer (200 by default); a non-2xx one has an error body.
    pub fn set_status(&self, status: u16) {
        self.settings.status.store(status, Ordering::SeqCst);
    }

    /// A delay before every answer.
    pub fn set_delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).expect("a short delay");
        self.settings.delay_ms.store(millis, Ordering::SeqCst);
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.settings.cache_control.lock().expect("server state") = value.map(str::to_owned);
    }

    /// Sends `body` instead of the key set (`None`: the key set again).
    pub fn set_body(&self, body: Option<Vec<u8>>) {
        *self.settings.body.lock().expect("server state") = body;
    }

    /// Sends the key set's body in chunks, without `Content-Length`.
    pub fn set_chunked(&self, chunked: bool) {
        self.settings.chunked.store(chunked, Ordering::SeqCst);
    }

    /// The discovery document's `issuer` (`None`: the base URL).
    pub fn set_issuer(&self, issuer: Option<&str>) {
        *self.settings.issuer.lock().expect("server state") = issuer.map(str::to_owned);
    }

    /// The discovery document's `jwks_uri` (`None`: this server's `/jwks`).
    pub fn set_jwks_uri(&self, uri: Option<&str>) {
        *self.settings.jwks_uri.lock().expect("server state") = uri.map(str::to_owned);
    }

    /// `/jwks` answers `302 Found` to `location` (`None`: it serves the key set).
    pub fn set_redirect(&self, location: Option<&str>) {
        *self.settings.redirect.lock().expect("server state") = location.map(str::to_owned);
    }

    /// Back to serving the key set at once with 200.
    pub fn heal(&self) {
        self.set_status(200);
        self.set_delay(Duration::ZERO);
        self.set_body(None);
        self.set_chunked(false);
        self.set_redirect(None);
    }

    /// Requests received on `/jwks`.
    pub fn jwks_hits(&self) -> u64 {
        self.settings.jwks_hits.load(Ordering::SeqCst)
    }

    /// Requests received on `/.well-known/openid-configuration`.
    pub fn discovery_hits(&self) -> u64 {
        self.settings.discovery_hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock()
            && let Some((stop, task)) = running.take()
        {
            let _ = stop.send(());
            task.abort();
        }
    }
}

async fn pause(settings: &Settings) {
    let delay = settings.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
}

fn failed(status: StatusCode) -> Option<Response<Body>> {
    if status.is_success() {
        return None;
    }
    let mut response = Response::new(Body::from(r#"{"error":"server_error"}"#));
    *response.status_mut() = status;
    Some(response)
}

async fn jwks(State(settings): State<Arc<Settings>>) -> Response<Body> {
    settings.jwks_hits.fetch_add(1, Ordering::SeqCst);
    pause(&settings).await;
    let status =
        StatusCode::from_u16(settings.status.load(Ordering::SeqCst)).expect("a valid status");
    if let Some(response) = failed(status) {
        return response;
    }
    if let Some(location) = settings.redirect.lock().expect("server state").clone() {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::FOUND;
        response.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(&location).expect("a location"),
        );
        return response;
    }
    let bytes = match settings.body.lock().expect("server state").clone() {
        Some(body) => body,
        None => serde_json::to_vec(&*settings.jwks.lock().expect("server state"))
            .expect("a JSON key set"),
    };
    let body = if settings.chunked.load(Ordering::SeqCst) {
        Body::new(Chunked::of(bytes))
    } else {
        Body::from(bytes)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = settings.cache_control.lock().expect("server state").clone() {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&value).expect("a header value"),
        );
    }
    response
}

async fn discovery(State(settings): State<Arc<Settings>>) -> Response<Body> {
    settings.discovery_hits.fetch_add(1, Ordering::SeqCst);
    pause(&settings).await;
    let status =
        StatusCode::from_u16(settings.status.load(Ordering::SeqCst)).expect("a valid status");
    if let Some(response) = failed(status) {
        return response;
    }
    let issuer = settings
        .issuer
        .lock()
        .expect("server state")
        .clone()
        .unwrap_or_else(|| settings.base.clone());
    let jwks_uri = settings
        .jwks_uri
        .lock()
        .expect("server state")
        .clone()
        .unwrap_or_else(|| format!("{}/jwks", settings.base));
    let document = json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "authorization_endpoint": format!("{}/authorize", settings.base),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    });
    let mut response = Response::new(Body::from(document.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A body of unknown length (chunked transfer encoding): a size limit cannot be judged from a
/// `Content-Length` and must be enforced while reading.
struct Chunked {
    chunks: VecDeque<Bytes>,
}

impl Chunked {
    fn of(bytes: Vec<u8>) -> Self {
        let bytes = Bytes::from(bytes);
        let chunks = (0..bytes.len())
            .step_by(4096)
            .map(|start| bytes.slice(start..(start + 4096).min(bytes.len())))
            .collect();
        Chunked { chunks }
    }
}

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(
            self.chunks
                .pop_front()
                .map(|c| Ok(http_body::Frame::data(c))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }
}
