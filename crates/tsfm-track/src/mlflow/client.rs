//! The MLflow REST calls tsfm needs (`/api/2.0/mlflow/...` and the server's proxied artifact
//! store `/api/2.0/mlflow-artifacts/...`, on by default since MLflow 2.0's `--serve-artifacts`).
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Result, TrackError};

/// What one `runs/log-batch` call and one value may hold. MLflow refuses a batch over its
/// limits whole; values are truncated to what every MLflow version since 1.x keeps (the full
/// config is also uploaded as the `config.yaml` artifact).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub metrics: usize,
    pub params: usize,
    pub tags: usize,
    pub entities: usize,
    pub param_value_chars: usize,
    pub tag_value_chars: usize,
    pub key_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            metrics: 1000,
            params: 100,
            tags: 100,
            entities: 1000,
            param_value_chars: 500,
            tag_value_chars: 5000,
            key_chars: 250,
        }
    }
}

/// A run on the server.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    pub experiment_id: String,
    pub artifact_uri: String,
}

/// A blocking client with short timeouts: a server that is down answers nothing, and the
/// caller (a background thread, or `tsfm runs sync`) decides what to do.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// `connect_timeout` bounds the wait for a host that does not answer at all.
    pub fn new(tracking_uri: &str, connect_timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(connect_timeout))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            base: tracking_uri.trim_end_matches('/').to_string(),
            agent,
        }
    }

    pub fn uri(&self) -> &str {
        &self.base
    }

    /// The id of experiment `name`, created if it does not exist.
    pub fn experiment_id(&self, name: &str) -> Result<String> {
        if let Some(id) = self.find_experiment(name)? {
            return Ok(id);
        }
        match self.post("experiments/create", &json!({ "name": name })) {
            Ok(v) => Ok(text(&v["experiment_id"])),
            // Another process created it between the two calls.
            Err(TrackError::Refused { .. }) => self
                .find_experiment(name)?
                .ok_or_else(|| TrackError::Other(format!("experiment {name} vanished"))),
            Err(e) => Err(e),
        }
    }

    fn find_experiment(&self, name: &str) -> Result<Option<String>> {
        let url = self.url("/api/2.0/mlflow/experiments/get-by-name");
        let response = self
            .agent
            .get(&url)
            .query("experiment_name", name)
            .call()
            .map_err(|e| self.unreachable(e))?;
        match self.json(response, "experiments/get-by-name") {
            Ok(v) => Ok(Some(text(&v["experiment"]["experiment_id"]))),
            Err(TrackError::Refused { message, .. })
                if message.contains("RESOURCE_DOES_NOT_EXIST") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        start_time: i64,
    ) -> Result<RunInfo> {
        let body = json!({
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": start_time,
        });
        let v = self.post("runs/create", &body)?;
        let info = &v["run"]["info"];
        Ok(RunInfo {
            run_id: text(&info["run_id"]),
            experiment_id: experiment_id.to_string(),
            artifact_uri: text(&info["artifact_uri"]),
        })
    }

    /// One `runs/log-batch` call; the caller keeps within [`Limits`].
    pub fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Value],
        params: &[Value],
        tags: &[Value],
    ) -> Result<()> {
        let body = json!({ "run_id": run_id, "metrics": metrics, "params": params, "tags": tags });
        self.post("runs/log-batch", &body).map(drop)
    }

    pub fn end_run(&self, run_id: &str, status: &str, end_time: i64) -> Result<()> {
        let body = json!({ "run_id": run_id, "status": status, "end_time": end_time });
        self.post("runs/update", &body).map(drop)
    }

    /// Uploads `bytes` as `path` inside the run's artifacts (`artifact_uri` from `runs/create`).
    pub fn upload_artifact(&self, artifact_uri: &str, path: &str, bytes: &[u8]) -> Result<()> {
        let root = proxied_path(artifact_uri).ok_or_else(|| TrackError::Refused {
            uri: self.base.clone(),
            what: format!("artifact {path}"),
            message: format!(
                "the run's artifact location is {artifact_uri}, which tsfm cannot write to; \
                 start the server with --serve-artifacts (the default since MLflow 2.0) so \
                 artifacts go through it"
            ),
        })?;
        let url = self.url(&format!(
            "/api/2.0/mlflow-artifacts/artifacts/{root}/{path}"
        ));
        let response = self
            .agent
            .put(&url)
            .header("Content-Type", "application/octet-stream")
            .send(bytes)
            .map_err(|e| self.unreachable(e))?;
        self.json(response, "artifact upload").map(drop)
    }

    /// `GET /api/2.0/mlflow/{endpoint}` with query parameters (the tests read runs back).
    pub fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        let mut request = self
            .agent
            .get(&self.url(&format!("/api/2.0/mlflow/{endpoint}")));
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        let response = request.call().map_err(|e| self.unreachable(e))?;
        self.json(response, endpoint)
    }

    fn post(&self, endpoint: &str, body: &Value) -> Result<Value> {
        let response = self
            .agent
            .post(&self.url(&format!("/api/2.0/mlflow/{endpoint}")))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| self.unreachable(e))?;
        self.json(response, endpoint)
    }

    fn json(&self, mut response: ureq::http::Response<ureq::Body>, what: &str) -> Result<Value> {
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        match status {
            200..=299 => Ok(serde_json::from_str(&body).unwrap_or(Value::Null)),
            400..=499 => Err(TrackError::Refused {
                uri: self.base.clone(),
                what: what.to_string(),
                message: format!("HTTP {status}: {}", body.trim()),
            }),
            _ => Err(TrackError::Unreachable {
                uri: self.base.clone(),
                message: format!("{what}: HTTP {status}: {}", body.trim()),
            }),
        }
    }

    fn unreachable(&self, e: ureq::Error) -> TrackError {
        TrackError::Unreachable {
            uri: self.base.clone(),
            message: e.to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// MLflow returns ids as strings; older servers sent some as numbers.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `mlflow-artifacts:/1/abc/artifacts` or `mlflow-artifacts://host:port/1/abc/artifacts` ->
/// `1/abc/artifacts`: the path the proxied artifact API takes.
fn proxied_path(artifact_uri: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    let path = match rest.strip_prefix("//") {
        Some(host_and_path) => &host_and_path[host_and_path.find('/')?..],
        None => rest,
    };
    Some(path.trim_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::proxied_path;

    #[test]
    fn proxied_artifact_paths_drop_the_scheme_and_host() {
        assert_eq!(
            proxied_path("mlflow-artifacts:/1/ab/artifacts").as_deref(),
            Some("1/ab/artifacts")
        );
        assert_eq!(
            proxied_path("mlflow-artifacts://login:5000/1/ab/artifacts").as_deref(),
            Some("1/ab/artifacts")
        );
        assert_eq!(proxied_path("file:///srv/mlruns/1/ab/artifacts"), None);
    }
}
