//! The in-memory form every source produces and every later step consumes.
//!
//! Time is naive local wall-clock time (CGM data is recorded in the wearer's local time and
//! nocturnal analysis is anchored on local midnight), stored as seconds since
//! 1970-01-01T00:00:00 with no time zone. `timestamp % 86_400` is the second of the day.

/// Seconds in a day, for time-of-day arithmetic.
pub const SECONDS_PER_DAY: i64 = 86_400;

/// mg/dL per mmol/L for glucose; the one place this constant lives.
pub const MGDL_PER_MMOLL: f64 = 18.0182;

/// One named column of a series. Missing values are `f64::NAN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub name: String,
    pub values: Vec<f64>,
}

/// One series (a patient, a sensor, a store...) on its time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub id: String,
    /// Naive local time, seconds since 1970-01-01T00:00:00, ascending.
    pub timestamps: Vec<i64>,
    /// Sampling interval in minutes (the modal gap once on a regular grid).
    pub interval_min: u32,
    /// The first channel named in `target` is the forecast target.
    pub channels: Vec<Channel>,
    /// Unit of the target channel, e.g. "mmol/L"; `None` for unit-less data.
    pub unit: Option<String>,
}

impl Series {
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    pub fn channel_mut(&mut self, name: &str) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.name == name)
    }
}
