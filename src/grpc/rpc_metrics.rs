//! Counts and times every RPC by method and status code. The code is read
//! where gRPC puts it: the headers of a trailers-only answer, else the
//! trailers. A call the client abandons is counted as CANCELLED. Methods
//! are labelled only when the server knows them, so a client sending
//! random paths cannot grow the series.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use prost::Message as _;
use tower::{Layer, Service};

use super::rpc_log::code_name;
use crate::metrics::{Families, Metrics, RpcLabels};

/// The label of a path no service serves.
const OTHER: &str = "other";

#[derive(Clone)]
pub struct RpcMetricsLayer {
    families: Option<Arc<Families>>,
    methods: Arc<HashMap<String, Arc<str>>>,
}

impl RpcMetricsLayer {
    /// Knows the methods of every service in `descriptor_sets`.
    pub fn new(metrics: &Metrics, descriptor_sets: &[&[u8]]) -> Self {
        let mut methods = HashMap::new();
        if metrics.families().is_some() {
            for set in descriptor_sets {
                let Ok(set) = prost_types::FileDescriptorSet::decode(*set) else {
                    continue;
                };
                for file in &set.file {
                    for service in &file.service {
                        for method in &service.method {
                            let path =
                                format!("/{}.{}/{}", file.package(), service.name(), method.name());
                            methods.insert(path.clone(), Arc::from(path));
                        }
                    }
                }
            }
        }
        Self {
            families: metrics.families().cloned(),
            methods: Arc::new(methods),
        }
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    layer: RpcMetricsLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RpcMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let timer = self.layer.families.as_ref().map(|families| Timer {
            families: families.clone(),
            method: self
                .layer
                .methods
                .get(request.uri().path())
                .cloned()
                .unwrap_or_else(|| Arc::from(OTHER)),
            started: Instant::now(),
            recorded: false,
        });
        ResponseFuture {
            inner: self.inner.call(request),
            timer,
        }
    }
}

/// One call being timed; records once, on its code or when dropped.
struct Timer {
    families: Arc<Families>,
    method: Arc<str>,
    started: Instant,
    recorded: bool,
}

impl Timer {
    fn record(&mut self, code: &'static str) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        self.families
            .rpc
            .get_or_create(&RpcLabels {
                method: self.method.clone(),
                code,
            })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.record("CANCELLED");
    }
}

fn status_code(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get("grpc-status")?;
    Some(code_name(tonic::Code::from_bytes(value.as_bytes())))
}

pin_project_lite::pin_project! {
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        timer: Option<Timer>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<MeteredBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut timer = this.timer.take();
        Poll::Ready(result.map(|response| {
            if let (Some(t), Some(code)) = (timer.as_mut(), status_code(response.headers())) {
                t.record(code);
            }
            response.map(|inner| MeteredBody { inner, timer })
        }))
    }
}

pin_project_lite::pin_project! {
    /// The response body, watched for the trailers that carry the code.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        timer: Option<Timer>,
    }
}

impl<B: Body> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(timer) = this.timer.as_mut() {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(code) = frame.trailers_ref().and_then(status_code) {
                        timer.record(code);
                    }
                }
                // A gRPC answer that ends without a status is not one.
                Some(Err(_)) | None => timer.record("UNKNOWN"),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
