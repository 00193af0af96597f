//! TensorBoard event files: `events.out.tfevents.{seconds}.{host}` under a run's `logs/`,
//! TFRecord-framed `Event` protobufs (scalars as `simple_value`, images as PNG), and a reader
//! that checks every CRC (tests; a damaged file is named by offset).
mod proto;
mod record;
mod writer;

pub use proto::{Event, Image, Summary, Value};
pub use record::{masked_crc, read_records, write_record};
pub use writer::{EventWriter, read_events};
