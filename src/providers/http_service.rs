//! Any HTTP service: its health URL must answer 2xx within the timeout.

use std::time::Duration;

use super::{Call, Observation, ProbeError, Provider, problem, request};
use crate::status::model::{Level, ProblemCode};

pub struct HttpService;

#[tonic::async_trait]
impl Provider for HttpService {
    fn id(&self) -> &'static str {
        "http"
    }

    async fn probe(&self, ctx: &Call<'_>) -> Result<Observation, ProbeError> {
        let Some(url) = ctx.setting("health_url") else {
            return Err(ProbeError::misconfigured("health_url must be set"));
        };
        let timeout = ctx
            .setting_i64("timeout_ms")
            .and_then(|ms| u64::try_from(ms).ok())
            .map_or(ctx.timeout, |ms| Duration::from_millis(ms).min(ctx.timeout));
        let mut request = ctx.http.get(url).timeout(timeout);
        if let Some(token) = ctx.credential("bearer_token") {
            request = request.bearer_auth(token);
        }
        let response = request::transport(request).await?;
        let status = response.status();
        // A health endpoint's answer is the status itself, 5xx included.
        if !status.is_success() {
            return Err(ProbeError::Definitive(problem(
                ProblemCode::Unknown,
                format!("the health check answered {}", status.as_u16()),
            )));
        }
        Ok(Observation::new(
            Level::Connected,
            format!("{url} answered {}", status.as_u16()),
            "Healthy",
        ))
    }
}
