//! One event file per session (TensorBoard reads every file of a folder, in name order).
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use prost::Message;

use super::proto::{Event, Image, Summary, Value};
use super::record::{read_records, write_record};
use crate::error::{Result, TrackError};

pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// A new `events.out.tfevents.{seconds}.{host}` in `dir`, its `file_version` written.
    pub fn create(dir: &Path, host: &str) -> Result<EventWriter> {
        std::fs::create_dir_all(dir).map_err(TrackError::io(dir))?;
        let now = wall_time();
        let mut name = format!("events.out.tfevents.{}.{host}", now as u64);
        // Two sessions within a second (a resumed run, an evaluation) get their own files.
        let mut n = 1;
        while dir.join(&name).exists() {
            name = format!("events.out.tfevents.{}.{host}.{n}", now as u64);
            n += 1;
        }
        let path = dir.join(name);
        let file = File::create_new(&path).map_err(TrackError::io(&path))?;
        let mut writer = EventWriter {
            path,
            out: BufWriter::new(file),
        };
        writer.write(Event {
            wall_time: now,
            step: 0,
            file_version: Some("brain.Event:2".into()),
            summary: None,
        })?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Scalars of one step, one event.
    pub fn scalars(&mut self, step: u64, values: &[(String, f64)]) -> Result<()> {
        let value = values
            .iter()
            .map(|(tag, v)| Value {
                tag: tag.clone(),
                simple_value: Some(*v as f32),
                image: None,
            })
            .collect();
        self.summary(step, value)
    }

    /// A PNG image (its size read from the PNG header).
    pub fn png(&mut self, step: u64, tag: &str, png: Vec<u8>) -> Result<()> {
        let (width, height, colorspace) =
            png_header(&png).ok_or_else(|| TrackError::Other(format!("{tag}: not a PNG image")))?;
        let image = Image {
            height: height as i32,
            width: width as i32,
            colorspace,
            encoded_image_string: png,
        };
        self.summary(
            step,
            vec![Value {
                tag: tag.into(),
                simple_value: None,
                image: Some(image),
            }],
        )
    }

    /// Makes what was written durable (at checkpoints, at the end).
    pub fn sync(&mut self) -> Result<()> {
        self.out.flush().map_err(TrackError::io(&self.path))?;
        self.out
            .get_ref()
            .sync_data()
            .map_err(TrackError::io(&self.path))
    }

    fn summary(&mut self, step: u64, value: Vec<Value>) -> Result<()> {
        self.write(Event {
            wall_time: wall_time(),
            step: step as i64,
            file_version: None,
            summary: Some(Summary { value }),
        })?;
        // TensorBoard shows a live run from what is on disk.
        self.out.flush().map_err(TrackError::io(&self.path))
    }

    fn write(&mut self, event: Event) -> Result<()> {
        write_record(&mut self.out, &event.encode_to_vec()).map_err(TrackError::io(&self.path))
    }
}

/// The events of one file, every record's CRCs checked.
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let bytes = std::fs::read(path).map_err(TrackError::io(path))?;
    let bad = |message: String| TrackError::Other(format!("{}: {message}", path.display()));
    read_records(&bytes)
        .map_err(bad)?
        .into_iter()
        .map(|r| Event::decode(r).map_err(|e| bad(e.to_string())))
        .collect()
}

fn wall_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Width, height and TensorBoard's colorspace (channels) from a PNG's IHDR chunk.
fn png_header(png: &[u8]) -> Option<(u32, u32, i32)> {
    if png.len() < 26 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().expect("4 bytes"));
    // PNG colour types: 0 grey, 2 RGB, 3 palette (shown as RGB), 4 grey + alpha, 6 RGBA.
    let channels = match png[25] {
        0 => 1,
        4 => 2,
        6 => 4,
        _ => 3,
    };
    Some((be(16), be(20), channels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_file_version_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path(), "host").unwrap();
        w.scalars(10, &[("loss".into(), 0.5), ("learning_rate".into(), 1e-4)])
            .unwrap();
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend(640u32.to_be_bytes());
        png.extend(480u32.to_be_bytes());
        png.extend([8, 6]);
        w.png(10, "plots/clarke", png.clone()).unwrap();
        w.sync().unwrap();
        let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("events.out.tfevents.") && name.ends_with(".host"),
            "{name}"
        );
        let events = read_events(w.path()).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
        let values = &events[1].summary.as_ref().unwrap().value;
        assert_eq!(events[1].step, 10);
        assert_eq!(
            (values[0].tag.as_str(), values[0].simple_value),
            ("loss", Some(0.5))
        );
        assert_eq!(values[1].simple_value, Some(1e-4f32));
        let image = events[2].summary.as_ref().unwrap().value[0]
            .image
            .clone()
            .unwrap();
        assert_eq!((image.width, image.height, image.colorspace), (640, 480, 4));
        assert_eq!(image.encoded_image_string, png);
    }
}
