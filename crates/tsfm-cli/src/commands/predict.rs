//! `tsfm predict --model-path DIR --input FILE --output FILE`.
//!
//! Input: long format `id,timestamp,<channel>[,<channel>...]`, regular per series, empty cells
//! missing. Each series' last `context_length` values form the context (shorter series are
//! left-padded and masked, the model's own padding rule). Output: `id,timestamp,step,<point
//! column(s)>` with one row per forecast step.
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use tsfm_data::Series;
use tsfm_data::sources::{SourceKind, SourceOptions, clock};
use tsfm_models::{ForecastInput, Forecaster};

use crate::cli::PredictArgs;
use crate::exit::user_error;
use crate::tensors::{tensor3, to_vec};

pub fn run(args: PredictArgs) -> Result<()> {
    let model_path = args.config.model_path.clone().ok_or_else(|| {
        user_error("--model-path: name the checkpoint directory (or hub id) to forecast with")
    })?;
    let input = args
        .input
        .as_deref()
        .ok_or_else(|| user_error("--input: name the CSV or Parquet file to forecast"))?;
    let output = args
        .output
        .as_deref()
        .ok_or_else(|| user_error("--output: name the CSV file to write"))?;
    let batch_size: usize = match &args.config.batch_size {
        Some(b) => b
            .parse()
            .map_err(|_| user_error(format!("--batch-size: `{b}` is not a positive integer")))?,
        None => 64,
    };
    let device = crate::device::resolve(match &args.config.device {
        Some(d) => tsfm_config::Device::parse(d).ok_or_else(|| {
            user_error(format!(
                "--device: expected auto, cpu, cuda or cuda:N, got `{d}`"
            ))
        })?,
        None => tsfm_config::Device::Auto,
    })?;
    let dir = tsfm_models::resolve_checkpoint(&model_path)?;
    let kind = tsfm_models::detect_model_type(&dir)?;
    let model = match kind.as_str() {
        "ttm" => tsfm_models::load_forecaster_ttm(&dir.to_string_lossy(), &device)?,
        other => {
            return Err(user_error(format!(
                "{}: {other} checkpoints cannot be used for prediction in this build yet (TTM can)",
                dir.display()
            )));
        }
    };
    let horizon = args.horizon.unwrap_or(model.prediction_length());
    if horizon == 0 || horizon > model.prediction_length() {
        return Err(user_error(format!(
            "--horizon {horizon}: this {kind} checkpoint forecasts 1 to {} steps",
            model.prediction_length()
        )));
    }
    if !args.quantiles.is_empty() {
        eprintln!("warning: {kind} gives point forecasts only; --quantiles is ignored");
    }

    let (channels, series) = read_input(input)?;
    let context = model.context_length();
    // One row per (series, channel): TTM forecasts channels independently.
    let items: Vec<(usize, usize)> = (0..series.len())
        .flat_map(|s| (0..channels.len()).map(move |c| (s, c)))
        .collect();
    let mut forecasts = vec![vec![0f32; horizon]; items.len()];
    for (chunk_index, chunk) in items.chunks(batch_size.max(1)).enumerate() {
        let mut past = Vec::with_capacity(chunk.len() * context);
        let mut mask = Vec::with_capacity(chunk.len() * context);
        for &(s, c) in chunk {
            let values = &series[s].channels[c].values;
            let take = values.len().min(context);
            let pad = context - take;
            past.extend(std::iter::repeat_n(0.0, pad));
            mask.extend(std::iter::repeat_n(0.0, pad));
            for &v in &values[values.len() - take..] {
                past.push(if v.is_finite() { v as f32 } else { 0.0 });
                mask.push(if v.is_finite() { 1.0 } else { 0.0 });
            }
        }
        let shape = [chunk.len(), context, 1];
        let mut batch = ForecastInput::context(tensor3(past, shape, &device));
        batch.past_observed_mask = Some(tensor3(mask, shape, &device));
        let point = to_vec(model.forecast(&batch).point);
        let steps = model.prediction_length();
        for (i, _) in chunk.iter().enumerate() {
            forecasts[chunk_index * batch_size.max(1) + i]
                .copy_from_slice(&point[i * steps..i * steps + horizon]);
        }
    }

    let mut text = String::from("id,timestamp,step");
    if channels.len() == 1 {
        text.push_str(",point");
    } else {
        for name in &channels {
            write!(text, ",{name}").unwrap();
        }
    }
    text.push('\n');
    for (s, series) in series.iter().enumerate() {
        let last = *series.timestamps.last().expect("series have rows");
        let step_seconds = series.interval_min as i64 * 60;
        for step in 1..=horizon {
            let mut ts =
                clock::format_datetime(last + step as i64 * step_seconds).replace(' ', "T");
            if ts.len() == 16 {
                ts.push_str(":00");
            }
            write!(text, "{},{ts},{step}", csv_cell(&series.id)).unwrap();
            for c in 0..channels.len() {
                let item = s * channels.len() + c;
                write!(text, ",{}", forecasts[item][step - 1]).unwrap();
            }
            text.push('\n');
        }
    }
    tsfm_runs::write_atomic(output, text.as_bytes())?;
    eprintln!(
        "wrote {} forecasts of {horizon} steps ({} series x {} channel(s)) to {}",
        items.len(),
        series.len(),
        channels.len(),
        output.display()
    );
    Ok(())
}

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The channel names (every column but `id` and `timestamp`) and the series.
fn read_input(path: &Path) -> Result<(Vec<String>, Vec<Series>)> {
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let kind = if is_parquet {
        SourceKind::Parquet
    } else {
        SourceKind::Csv
    };
    let mut opts = SourceOptions::new(kind, path);
    opts.covariate_columns = Some(Vec::new());
    let channels = if is_parquet {
        // The Parquet reader takes every non-key column as a target when told none.
        parquet_columns(path)?
    } else {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let header = text
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches('\u{feff}');
        header
            .split(',')
            .map(|h| h.trim().trim_matches('"').to_string())
            .filter(|h| h != "id" && h != "timestamp" && !h.is_empty())
            .collect::<Vec<_>>()
    };
    if channels.is_empty() {
        return Err(user_error(format!(
            "{}: expected a header `id,timestamp,value` (or several named channels after id,timestamp)",
            path.display()
        )));
    }
    opts.target_columns = channels.clone();
    let output = tsfm_data::sources::load(&opts)?;
    if output.series.is_empty() {
        return Err(user_error(format!(
            "{}: no rows to forecast from",
            path.display()
        )));
    }
    Ok((channels, output.series))
}

fn parquet_columns(path: &Path) -> Result<Vec<String>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| user_error(format!("{}: not a Parquet file: {e}", path.display())))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    Ok(schema
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .filter(|n| n != "id" && n != "timestamp")
        .collect())
}
