//! TFRecord framing: `u64 length (LE) | masked CRC32C of the length bytes | data | masked
//! CRC32C of the data`, as TensorFlow's `record_writer.cc` writes it.
use std::io::{self, Write};

/// TensorFlow's masked CRC: rotate right by 15 bits and add a constant, so a CRC stored inside
/// CRC'd data does not weaken the check.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

pub fn write_record(out: &mut dyn Write, data: &[u8]) -> io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    out.write_all(&len)?;
    out.write_all(&masked_crc(&len).to_le_bytes())?;
    out.write_all(data)?;
    out.write_all(&masked_crc(data).to_le_bytes())
}

/// The records of a whole file, every length and data CRC checked.
pub fn read_records(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    while at < bytes.len() {
        if bytes.len() - at < 12 {
            return Err(format!("offset {at}: truncated record header"));
        }
        let len_bytes = &bytes[at..at + 8];
        if masked_crc(len_bytes) != u32_at(at + 8) {
            return Err(format!("offset {at}: length CRC mismatch"));
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes")) as usize;
        let start = at + 12;
        if bytes.len().saturating_sub(start) < len + 4 {
            return Err(format!("offset {at}: truncated record of {len} bytes"));
        }
        let data = &bytes[start..start + len];
        if masked_crc(data) != u32_at(start + len) {
            return Err(format!("offset {at}: data CRC mismatch"));
        }
        out.push(data);
        at = start + len + 4;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crcs_match_tensorflow_and_damage_is_found() {
        // CRC32C check value of "123456789" (RFC 3720), then TensorFlow's mask of it.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(
            masked_crc(b"123456789"),
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
        let mut file = Vec::new();
        write_record(&mut file, b"hello").unwrap();
        write_record(&mut file, b"").unwrap();
        assert_eq!(file.len(), 2 * 16 + 5);
        assert_eq!(read_records(&file).unwrap(), [b"hello".as_slice(), b""]);
        file[13] ^= 1;
        assert_eq!(
            read_records(&file).unwrap_err(),
            "offset 0: data CRC mismatch"
        );
    }
}
