//! `tsfm runs promote` and `tsfm serve` end to end: the real binary on a free local port,
//! every endpoint, every error class, batching compared number for number with `tsfm predict`,
//! and SIGTERM with a request in flight.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo, stderr, stdout, tsfm};
use serde_json::{Value, json};

/// A running `tsfm serve`; killed if a test fails before stopping it.
struct Server {
    child: Child,
    addr: String,
    log: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str], cwd: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tsfm"))
            .arg("serve")
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .current_dir(cwd)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            addr: String::new(),
            log: rx,
        };
        let line = server.wait_for("listening on http://");
        server.addr = line
            .split("http://")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        server.wait_for("ready: ");
        server
    }

    /// The next stderr line containing `text` (60 s at most).
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(line) = self.log.recv_timeout(Duration::from_millis(200)) {
                if line.contains(text) {
                    return line;
                }
                continue;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("tsfm serve exited with {status} before printing {text:?}");
            }
        }
        panic!("no {text:?} from tsfm serve within 60 s");
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        http(&self.addr, method, path, body)
    }

    fn post(&self, body: &Value) -> (u16, Value) {
        let (status, text) = self.request("POST", "/v1/forecast", body.to_string().as_bytes());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange on a new connection: (status, body).
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer 413 before reading all of a large body and close: that is fine.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// Five-minute timestamps from 2024-01-01 08:00.
fn timestamp(i: usize) -> String {
    let minutes = 8 * 60 + 5 * i;
    format!("2024-01-01T{:02}:{:02}:00", minutes / 60, minutes % 60)
}

fn wave(n: usize, level: f64, amplitude: f64, period: f64) -> Vec<f64> {
    (0..n)
        .map(|i| ((level + amplitude * (i as f64 / period).sin()) * 1000.0).round() / 1000.0)
        .collect()
}

/// JSON series `id` with `values` (None: null) and covariates of the same length.
fn series(id: &str, values: &[Option<f64>], covariates: &[(&str, Vec<Option<f64>>)]) -> Value {
    let mut s = json!({
        "id": id,
        "timestamps": (0..values.len()).map(timestamp).collect::<Vec<_>>(),
        "values": values,
    });
    if !covariates.is_empty() {
        s["covariates"] = covariates
            .iter()
            .map(|(n, v)| (n.to_string(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    s
}

/// Values of one column, `None` missing.
type Column = Vec<Option<f64>>;
/// One series of an input file: id, target values, covariates by name.
type CsvSeries<'a> = (&'a str, Column, Vec<(&'a str, Column)>);

/// The same series as a predict input CSV (`id,timestamp,<value column>,<covariates>`).
fn write_csv(path: &Path, target: &str, rows: &[CsvSeries<'_>]) {
    let covs: Vec<&str> = rows[0].2.iter().map(|(n, _)| *n).collect();
    let mut text = format!("id,timestamp,{target}");
    for c in &covs {
        text.push_str(&format!(",{c}"));
    }
    text.push('\n');
    let cell = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for (id, values, c) in rows {
        for (i, v) in values.iter().enumerate() {
            text.push_str(&format!("{id},{},{}", timestamp(i), cell(*v)));
            for (_, cv) in c {
                text.push_str(&format!(",{}", cell(cv[i])));
            }
            text.push('\n');
        }
    }
    std::fs::write(path, text).unwrap();
}

/// `tsfm predict` output rows as (id, timestamp, [point, q...]) parsed to f32.
fn predict_rows(path: &Path) -> Vec<(String, String, Vec<f32>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let values = cells[3..].iter().map(|c| c.parse().unwrap()).collect();
            (cells[0].to_string(), cells[1].to_string(), values)
        })
        .collect()
}

/// A reply's forecasts in the same shape as [`predict_rows`].
fn reply_rows(reply: &Value) -> Vec<(String, String, Vec<f32>)> {
    let mut rows = Vec::new();
    for f in reply["forecasts"].as_array().unwrap() {
        let point = f["point"].as_array().unwrap();
        for (h, p) in point.iter().enumerate() {
            let mut values = vec![p.as_f64().unwrap() as f32];
            for q in f["quantiles"].as_array().unwrap() {
                values.push(q[h].as_f64().unwrap() as f32);
            }
            rows.push((
                f["id"].as_str().unwrap().to_string(),
                f["timestamps"][h].as_str().unwrap().to_string(),
                values,
            ));
        }
    }
    rows
}

fn some(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().copied().map(Some).collect()
}

/// A tiny TTM run on the bundled demo data (32 -> 16 steps, 6 steps of training).
fn train_tiny_run(t: &Path) -> String {
    let repo = repo();
    let yaml = format!(
        "defaults: [models/ttm_default, data/demo]\n\
         model:\n  model_path: {model}\n  params:\n    context_length: 32\n    prediction_length: 16\n\
         data:\n  raw_path: {raw}\n  cache_dir: {cache}\n  batch_size: 32\n\
         training:\n  num_epochs: null\n  max_steps: 6\n  eval_strategy: steps\n  eval_steps: 3\n  \
         save_strategy: steps\n  save_steps: 3\n  logging_steps: 3\n\
         evaluation:\n  nocturnal:\n    enabled: false\n\
         output:\n  save_dir: tsfm_results\n  experiment_name: serve_demo\n",
        model = repo.join("data/models/ttm-tiny").display(),
        raw = repo.join("data/demo/brist1d/train.csv.gz").display(),
        cache = t.join("cache").display(),
    );
    std::fs::write(t.join("serve_demo.yaml"), yaml).unwrap();
    let out = tsfm(&["train", "--config", "serve_demo.yaml"], t);
    assert!(out.status.success(), "{}", stderr(&out));
    let link = t.join("tsfm_results/models/ttm/serve_demo/best_model");
    std::fs::read_link(link)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn promote_then_serve_answers_as_predict_does_alone_and_batched() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let run_id = train_tiny_run(t);

    // Promote twice: v1 then v2; an existing version is refused by name.
    let out = tsfm(&["runs", "promote", &run_id], t);
    assert!(out.status.success(), "{}", stderr(&out));
    let v1 = t.join("tsfm_results/models/ttm/production_v1");
    assert!(
        stdout(&out).contains(&format!(
            "promoted to {}",
            Path::new("tsfm_results/models/ttm/production_v1").display()
        )),
        "{}",
        stdout(&out)
    );
    for file in [
        "model/config.json",
        "model/model.safetensors",
        "model/scaler.json",
        "model/calibration.json",
        "config.yaml",
        "run.json",
        "metrics.json",
        "promotion.json",
        "checksums.json",
        "MODEL_CARD.md",
    ] {
        assert!(
            v1.join(file).is_file(),
            "{file} missing from {}",
            v1.display()
        );
    }
    let card = std::fs::read_to_string(v1.join("MODEL_CARD.md")).unwrap();
    for part in [
        &format!("Promoted from run `ttm/serve_demo/{run_id}`") as &str,
        "## Metrics (test split, mmol/L)",
        "| persistence |",
        "## Nocturnal",
        "## Calibration",
        "| central | 0.800 |",
        "## Intended use",
        "## Limits",
        "split-conformal residual quantiles",
    ] {
        assert!(card.contains(part), "{part:?} not in\n{card}");
    }
    let out = tsfm(&["runs", "promote", &run_id], t);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        t.join("tsfm_results/models/ttm/production_v2/MODEL_CARD.md")
            .is_file()
    );
    let out = tsfm(&["runs", "promote", &run_id, "--as", "production_v1"], t);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("production_v1 exists: a promoted version is never replaced"),
        "{}",
        stderr(&out)
    );
    let out = tsfm(&["runs", "list"], t);
    let listed = stdout(&out);
    assert!(
        listed.lines().any(|l| l.contains("production_v2") && l.contains(&format!("ttm/serve_demo/{run_id}"))),
        "{listed}"
    );

    let out = tsfm(
        &[
            "serve",
            "--model",
            "ttm/production_v9",
            "--bind",
            "127.0.0.1:0",
        ],
        t,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "--model ttm/production_v9: no such promoted version under tsfm_results/models"
        ),
        "{}",
        stderr(&out)
    );
    // A damaged copy is refused before it forecasts, naming the file.
    let damaged = t.join("damaged");
    std::fs::create_dir_all(damaged.join("model")).unwrap();
    for entry in std::fs::read_dir(&v1)
        .unwrap()
        .chain(std::fs::read_dir(v1.join("model")).unwrap())
    {
        let path = entry.unwrap().path();
        if path.is_file() {
            let rel = path.strip_prefix(&v1).unwrap();
            std::fs::copy(&path, damaged.join(rel)).unwrap();
        }
    }
    let weights = damaged.join("model/model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let out = tsfm(&["serve", "--model", "damaged", "--bind", "127.0.0.1:0"], t);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("damaged is damaged: model/model.safetensors does not match its checksum"),
        "{}",
        stderr(&out)
    );

    // `tsfm predict` with the production folder: the reference numbers.
    let known = {
        let scaler: Value =
            serde_json::from_str(&std::fs::read_to_string(v1.join("model/scaler.json")).unwrap())
                .unwrap();
        scaler["per_series"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone()
    };
    let a = some(&wave(40, 7.0, 2.0, 5.0));
    let b = some(&wave(36, 10.0, 1.5, 3.0));
    let mut b_gap = b.clone();
    b_gap[20] = None;
    let rows = vec![
        (known.as_str(), a.clone(), vec![]),
        ("new-patient", b_gap.clone(), vec![]),
    ];
    write_csv(&t.join("input.csv"), "bg", &rows);
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            "tsfm_results/models/ttm/production_v1",
            "--input",
            "input.csv",
            "--output",
            "predicted.csv",
            "--quantiles",
            "0.1,0.5,0.9",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = predict_rows(&t.join("predicted.csv"));
    assert_eq!(expected.len(), 2 * 16);

    let mut server = Server::start(
        &[
            "--model",
            "ttm/production_v1",
            "--max-wait-ms",
            "300",
            "--max-series",
            "4",
            "--max-length",
            "64",
            "--max-body-bytes",
            "20000",
        ],
        t,
    );
    assert_eq!(
        server.request("GET", "/healthz", b""),
        (200, "{\"status\":\"ok\"}".into())
    );
    let (status, ready) = server.request("GET", "/readyz", b"");
    assert_eq!(status, 200);
    let ready: Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["model"]["version"], "production_v1");
    assert_eq!(
        ready["model"]["source_run"],
        format!("ttm/serve_demo/{run_id}")
    );
    assert_eq!(ready["unit"], "mmol/L");

    // Both series in one request: the numbers of `tsfm predict`, exactly.
    let request = json!({
        "series": [series(&known, &a, &[]), series("new-patient", &b_gap, &[])],
        "quantiles": [0.1, 0.5, 0.9],
        "unit": "mmol/L",
    });
    let (status, reply) = server.post(&request);
    assert_eq!(status, 200, "{reply}");
    // In request order (predict writes id order).
    assert_eq!(reply["forecasts"][0]["id"], known.as_str());
    let mut got = reply_rows(&reply);
    got.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(got, expected);
    assert_eq!(reply["model"]["version"], "production_v1");
    assert_eq!(reply["horizon"], 16);
    assert_eq!(reply["hypo_threshold"], 3.9);
    // P(bg < 3.9) is the CDF through (q, level) points at 3.9, half the tail mass outside.
    for f in reply["forecasts"].as_array().unwrap() {
        let p = f["p_below"].as_array().unwrap();
        for h in 0..16 {
            let q: Vec<f64> = (0..3)
                .map(|l| f["quantiles"][l][h].as_f64().unwrap())
                .collect();
            let levels = [0.1, 0.5, 0.9];
            let want = if 3.9 < q[0] {
                0.05
            } else if 3.9 > q[2] {
                0.95
            } else {
                let k = if 3.9 <= q[1] { 0 } else { 1 };
                levels[k] + (levels[k + 1] - levels[k]) * (3.9 - q[k]) / (q[k + 1] - q[k])
            };
            assert!(
                (p[h].as_f64().unwrap() - want).abs() < 1e-6,
                "step {h}: {} vs {want}",
                p[h]
            );
        }
    }

    // One by one, then all at once from 8 clients: every answer the same, and batched.
    let singles: Vec<Value> = (0..8)
        .map(|k| {
            let values = some(&wave(40, 6.0 + k as f64 * 0.5, 1.0, 4.0));
            json!({"series": [series(&format!("client-{k}"), &values, &[])]})
        })
        .collect();
    let alone: Vec<Value> = singles.iter().map(|r| server.post(r).1).collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let together: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = singles
            .iter()
            .map(|r| {
                let (barrier, addr) = (barrier.clone(), server.addr.clone());
                s.spawn(move || {
                    barrier.wait();
                    let (status, text) =
                        http(&addr, "POST", "/v1/forecast", r.to_string().as_bytes());
                    assert_eq!(status, 200, "{text}");
                    serde_json::from_str::<Value>(&text).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(together, alone);
    assert_eq!(
        alone[0]["quantile_levels"],
        json!([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    );
    let (_, metrics) = server.request("GET", "/metrics", b"");
    let bucket = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("{name} not in\n{metrics}"))
    };
    // 1 + 8 calls before the concurrent ones, which shared calls instead of taking 8.
    let calls = bucket("tsfm_batch_requests_count");
    assert!(
        calls < 1 + 8 + 8,
        "{calls} model calls: nothing was batched\n{metrics}"
    );
    assert!(
        bucket("tsfm_batch_requests_bucket{le=\"1\"}") < calls,
        "{metrics}"
    );
    assert_eq!(
        bucket("tsfm_requests_total{endpoint=\"forecast\",status=\"200\"}"),
        1 + 8 + 8
    );

    // Every error class, each naming its field.
    let err = |status: u16, body: &[u8], field: Option<&str>, text: &str| {
        let (got, reply) = server.request("POST", "/v1/forecast", body);
        assert_eq!(got, status, "{reply}");
        let reply: Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["error"]["status"], status);
        assert_eq!(reply["error"]["field"].as_str(), field, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(text), "{message:?} lacks {text:?}");
    };
    let one = |extra: Value| {
        let mut r = json!({"series": [series("p", &some(&wave(40, 7.0, 1.0, 4.0)), &[])]});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r.to_string().into_bytes()
    };
    err(
        400,
        b"{\"series\": [",
        Some("series"),
        "not valid JSON: EOF while parsing a list at line 1 column 12",
    );
    err(
        422,
        &one(json!({"horizn": 4})),
        Some("horizn"),
        "unknown field `horizn`",
    );
    let mut nan = json!({"series": [series("p", &some(&wave(40, 7.0, 1.0, 4.0)), &[])]});
    nan["series"][0]["values"][3] = json!("NaN");
    err(
        422,
        nan.to_string().as_bytes(),
        Some("series[0].values[3]"),
        "invalid type: string \"NaN\"",
    );
    err(
        422,
        &one(json!({"unit": "mg/dL"})),
        Some("unit"),
        "this model forecasts mmol/L",
    );
    let mut mgdl = json!({"series": [series("p", &some(&wave(40, 140.0, 20.0, 4.0)), &[])]});
    mgdl["unit"] = json!("mmol/L");
    err(
        422,
        mgdl.to_string().as_bytes(),
        Some("series[0].values[0]"),
        "is not a glucose value in mmol/L",
    );
    err(
        422,
        &one(json!({"horizon": 99})),
        None,
        "horizon 99: this ttm checkpoint forecasts 1 to 16 steps",
    );
    err(
        422,
        &one(json!({"quantiles": [0.5, 1.5]})),
        Some("quantiles[1]"),
        "not a level between 0 and 1",
    );
    let five: Vec<Value> = (0..5)
        .map(|k| series(&format!("s{k}"), &some(&[5.0; 8]), &[]))
        .collect();
    err(
        413,
        json!({"series": five}).to_string().as_bytes(),
        Some("series"),
        "--max-series",
    );
    err(
        413,
        json!({"series": [series("long", &some(&[5.0; 65]), &[])]})
            .to_string()
            .as_bytes(),
        Some("series[0].timestamps"),
        "--max-length",
    );
    let mut huge = json!({"series": [series("p", &some(&[5.0; 40]), &[])]});
    huge["series"][0]["id"] = json!("x".repeat(30_000));
    err(413, huge.to_string().as_bytes(), None, "--max-body-bytes");
    let (status, body) = server.request("GET", "/v1/nothing", b"");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no endpoint /v1/nothing"), "{body}");
    assert_eq!(server.request("GET", "/v1/forecast", b"").0, 405);
    // Still healthy after all of that.
    assert_eq!(server.request("GET", "/healthz", b"").0, 200);
    let (_, metrics) = server.request("GET", "/metrics", b"");
    assert!(
        metrics.contains("tsfm_requests_total{endpoint=\"forecast\",status=\"413\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tsfm_forecast_latency_seconds_bucket{le=\"+Inf\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("tsfm_panics_total 0"), "{metrics}");

    // SIGTERM while a request waits for company (300 ms): it is answered, then the server stops.
    let addr = server.addr.clone();
    let in_flight = std::thread::spawn(move || {
        let body = json!({"series": [series("late", &some(&wave(40, 8.0, 1.0, 4.0)), &[])]});
        http(&addr, "POST", "/v1/forecast", body.to_string().as_bytes())
    });
    std::thread::sleep(Duration::from_millis(100));
    let status = server.terminate();
    assert!(status.success(), "exit {status}");
    let (code, body) = in_flight.join().unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(
        TcpStream::connect(&server.addr).is_err(),
        "still listening after SIGTERM"
    );
}

/// Chronos-2 with a known-future covariate: the request's horizon rows carry planned insulin,
/// and the answer is `tsfm predict`'s on the same rows.
#[test]
fn a_chronos2_checkpoint_reads_known_future_covariates_as_predict_does() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let model: PathBuf = repo().join("data/models/chronos2-demo");
    let n = 60;
    let mut bg: Vec<Option<f64>> = some(&wave(n, 7.0, 2.0, 6.0));
    for v in bg.iter_mut().skip(n - 8) {
        *v = None; // eight horizon rows
    }
    let insulin: Vec<Option<f64>> = (0..n)
        .map(|i| Some(if i % 7 == 0 { 1.5 } else { 0.0 }))
        .collect();
    let rows = vec![("p1", bg.clone(), vec![("insulin", insulin.clone())])];
    write_csv(&t.join("cov.csv"), "value", &rows);
    let out = tsfm(
        &[
            "predict",
            "--model-path",
            model.to_str().unwrap(),
            "--input",
            "cov.csv",
            "--output",
            "cov_out.csv",
            "--target",
            "value",
            "--quantiles",
            "0.1,0.5,0.9",
        ],
        t,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = predict_rows(&t.join("cov_out.csv"));
    assert_eq!(expected.len(), 8);

    let server = Server::start(&["--model", model.to_str().unwrap()], t);
    let (status, ready) = server.request("GET", "/readyz", b"");
    assert_eq!(status, 200, "{ready}");
    let request = json!({
        "series": [series("p1", &bg, &[("insulin", insulin.clone())])],
        "quantiles": [0.1, 0.5, 0.9],
    });
    let (status, reply) = server.post(&request);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply_rows(&reply), expected);
    assert_eq!(reply["horizon"], 8);
    // No unit known and none given: no hypoglycaemia probability is made up.
    assert_eq!(reply["hypo_threshold"], Value::Null);
    assert_eq!(reply["forecasts"][0]["p_below"], Value::Null);
    // Declared mmol/L: the probability comes with it.
    let mut with_unit = request.clone();
    with_unit["unit"] = json!("mmol/L");
    let (status, reply) = server.post(&with_unit);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["forecasts"][0]["p_below"].as_array().unwrap().len(),
        8
    );
    // A hole in the known-future covariate's horizon: named as predict names it.
    let mut holed = insulin.clone();
    holed[n - 3] = None;
    let (status, reply) =
        server.post(&json!({"series": [series("p1", &bg, &[("insulin", holed)])]}));
    assert_eq!(status, 422, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("known-future covariate `insulin` has holes in the horizon of series `p1`"),
        "{reply}"
    );
}
